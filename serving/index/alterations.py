"""Altered copies of a picture, as reverse image search meets them: cropped, shrunk, recompressed,
mirrored, slightly rotated. One home for the alterations that calibrate the copy threshold when
an index is built (``serving.index.build``), and that ``bench/visual_search.py`` measures.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable

from PIL import Image

from shoplens.imaging import jpeg_bytes

CROP_FRACTION = 0.8  # of each side
ROTATION_DEGREES = 5
JPEG_QUALITY = 40


def crop(image: Image.Image, position: tuple[float, float] = (0.5, 0.5)) -> Image.Image:
    """CROP_FRACTION of each side, the crop's corner at `position` (0..1 of the slack on each axis; centre: 0.5)."""
    width, height = image.size
    crop_width, crop_height = round(width * CROP_FRACTION), round(height * CROP_FRACTION)
    left, top = round((width - crop_width) * position[0]), round((height - crop_height) * position[1])
    return image.crop((left, top, left + crop_width, top + crop_height))


def half(image: Image.Image) -> Image.Image:
    return image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.Resampling.BILINEAR)


def jpeg(image: Image.Image) -> Image.Image:
    return Image.open(io.BytesIO(jpeg_bytes(image.convert("RGB"), JPEG_QUALITY))).convert("RGB")


def flip(image: Image.Image) -> Image.Image:
    return image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def rotate(image: Image.Image) -> Image.Image:
    return image.rotate(ROTATION_DEGREES, resample=Image.Resampling.BILINEAR, fillcolor=(255, 255, 255))


ALTERATIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "crop 80%": crop, "resize 50%": half, f"JPEG q{JPEG_QUALITY}": jpeg, "flip": flip,
    f"rotate {ROTATION_DEGREES}deg": rotate}


def altered(image: Image.Image, names: tuple[str, ...] = tuple(ALTERATIONS), rng: random.Random | None = None,
            ) -> Image.Image:
    """`image` with these alterations, in the order of ALTERATIONS; the crop at a random position drawn from
    `rng` where given, else at the centre."""
    for name, alteration in ALTERATIONS.items():
        if name in names:
            image = crop(image, (rng.random(), rng.random())) if alteration is crop and rng else alteration(image)
    return image
