"""Picture transforms for training and evaluation, after torchvision's reference presets.

Augmentation moves, flips, tilts, zooms and relights a picture but never changes its
hue or saturation: colour is a label here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from PIL import Image
from torchvision.transforms import v2

from shoplens.bundle import Preprocessing
from shoplens.preprocessing import eval_pixels

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


def _eval_tensor(image: Image.Image, pre: Preprocessing) -> torch.Tensor:
    return torch.from_numpy(eval_pixels(image, pre))


def eval_preset(pre: Preprocessing) -> Callable[[Image.Image], torch.Tensor]:
    """Serving's preprocessing (shoplens.preprocessing), so evaluation sees what the served model sees."""
    return partial(_eval_tensor, pre=pre)
