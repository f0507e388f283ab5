"""Drawn garment pictures for tests that need one picture, not a dataset."""

from __future__ import annotations

import random

from PIL import Image

from shoplens.sample import draw_garment


def drawn(category: str = "dress", colour: str = "red", seed: int = 0,
          size: tuple[int, int] = (96, 128)) -> Image.Image:
    """One garment picture, the same for the same arguments."""
    return draw_garment(category, colour, size, random.Random(seed))
