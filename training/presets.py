"""Picture transforms for training and evaluation, after torchvision's reference presets.

Augmentation moves, flips, tilts, zooms and relights a picture but never changes its
hue or saturation: colour is a label here.
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from shoplens.bundle import Preprocessing

_INTERPOLATION = {"bilinear": v2.InterpolationMode.BILINEAR, "bicubic": v2.InterpolationMode.BICUBIC}


def _to_tensor(pre: Preprocessing) -> list:
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(pre.mean, pre.std)]


def train_preset(pre: Preprocessing) -> v2.Compose:
    interpolation = _INTERPOLATION[pre.interpolation]
    return v2.Compose([
        v2.RandomResizedCrop(pre.image_size, scale=(0.65, 1.0), ratio=(0.75, 1.333), interpolation=interpolation),
        v2.RandomHorizontalFlip(),
        v2.RandomAffine(degrees=10, translate=(0.06, 0.06)),
        v2.ColorJitter(brightness=0.2, contrast=0.2),
        *_to_tensor(pre),
    ])


def eval_preset(pre: Preprocessing) -> v2.Compose:
    interpolation = _INTERPOLATION[pre.interpolation]
    return v2.Compose([v2.Resize(pre.resize, interpolation=interpolation), v2.CenterCrop(pre.image_size),
                       *_to_tensor(pre)])
