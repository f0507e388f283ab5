"""The evaluation preprocessing of a bundle, in NumPy and Pillow only.

One implementation for training's evaluation, the TorchServe handler and batch jobs:
resize the shorter side to ``resize``, centre-crop ``image_size``, scale to [0, 1] and
normalise. It reproduces torchvision's ``v2.Resize(int) -> v2.CenterCrop -> v2.ToImage
-> v2.ToDtype(float32, scale=True) -> v2.Normalize`` on Pillow pictures (the same
output size rounding, crop anchor and zero padding), without importing torch, so a
serving environment needs neither torchvision nor the training package. With
``whole_picture``, each picture is two views: that crop, then the whole picture with its
longer side resized to ``image_size``, centred on a white square; without ``crop``, that whole
picture alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from shoplens.bundle import Preprocessing

_RESAMPLING = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def _resized(image: Image.Image, shorter: int, interpolation: str) -> Image.Image:
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(shorter * long / short)  # torchvision truncates the longer side the same way
    size = (shorter, new_long) if width <= height else (new_long, shorter)
    return image if size == image.size else image.resize(size, _RESAMPLING[interpolation])


def _centre_crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """Crop (H, W, C) to size x size around the centre; zero-pad first when it is smaller."""
    height, width = pixels.shape[:2]
    if size > height or size > width:
        pad_h, pad_w = max(size - height, 0), max(size - width, 0)
        pixels = np.pad(pixels, ((pad_h // 2, (pad_h + 1) // 2), (pad_w // 2, (pad_w + 1) // 2), (0, 0)))
        height, width = pixels.shape[:2]
    top, left = round((height - size) / 2.0), round((width - size) / 2.0)
    return pixels[top:top + size, left:left + size]


def _fitted(image: Image.Image, size: int, interpolation: str) -> np.ndarray:
    """The whole picture, its longer side resized to `size`, centred on a white size x size square."""
    width, height = image.size
    scale = size / max(width, height)
    resized = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), _RESAMPLING[interpolation])
    square = Image.new("RGB", (size, size), (255, 255, 255))
    square.paste(resized, ((size - resized.width) // 2, (size - resized.height) // 2))
    return np.asarray(square)


def _normalised(pixels: np.ndarray, pre: Preprocessing) -> np.ndarray:
    scaled = pixels.astype(np.float32).transpose(2, 0, 1) * np.float32(1 / 255)
    mean = np.asarray(pre.mean, dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(pre.std, dtype=np.float32).reshape(3, 1, 1)
    return np.ascontiguousarray((scaled - mean) / std)


def eval_pixels(image: Image.Image, pre: Preprocessing) -> np.ndarray:
    """One RGB picture as the float32 array the model takes: (3, image_size, image_size), or with
    ``whole_picture`` and ``crop`` (2, 3, image_size, image_size), the centre crop then the whole picture."""
    rgb = image.convert("RGB")
    views = []
    if pre.crop:
        views.append(_centre_crop(np.asarray(_resized(rgb, pre.resize, pre.interpolation)), pre.image_size))
    if pre.whole_picture:
        views.append(_fitted(rgb, pre.image_size, pre.interpolation))
    return _normalised(views[0], pre) if len(views) == 1 else np.stack([_normalised(v, pre) for v in views])


def eval_batch(images: Sequence[Image.Image], pre: Preprocessing) -> np.ndarray:
    """Pictures as one (N, 3, image_size, image_size) float32 batch ((N, 2, 3, ...) with two views)."""
    return np.stack([eval_pixels(image, pre) for image in images])
