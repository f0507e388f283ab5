"""Garment pictures the project draws itself: the built-in sample and the test fixtures.

Each picture is a flat garment silhouette of a known category and colour on a light
background (or a busy one: a rug, a patterned bed), with random placement, size, tilt,
shading and noise, so a model has something real to learn and no photograph is copied.
Shops also show pictures that are no garment at all: banners, logos and icons are drawn
here too.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from shoplens.vocab import COLOURS

Polygon = list[tuple[float, float]]

# Silhouettes in unit coordinates (x right, y down), drawn in order.
SHAPES: dict[str, list[Polygon]] = {
    "dress": [[(0.40, 0.08), (0.60, 0.08), (0.63, 0.42), (0.84, 0.92), (0.16, 0.92), (0.37, 0.42)]],
    "shirt": [
        [(0.30, 0.15), (0.70, 0.15), (0.70, 0.88), (0.30, 0.88)],
        [(0.30, 0.15), (0.14, 0.32), (0.22, 0.40), (0.30, 0.30)],
        [(0.70, 0.15), (0.86, 0.32), (0.78, 0.40), (0.70, 0.30)],
    ],
    "pullover": [
        [(0.30, 0.15), (0.70, 0.15), (0.72, 0.86), (0.28, 0.86)],
        [(0.30, 0.15), (0.12, 0.80), (0.20, 0.84), (0.32, 0.35)],
        [(0.70, 0.15), (0.88, 0.80), (0.80, 0.84), (0.68, 0.35)],
    ],
    "pants": [[(0.30, 0.08), (0.70, 0.08), (0.76, 0.94), (0.56, 0.94), (0.50, 0.34),
               (0.44, 0.94), (0.24, 0.94)]],
    "skirt": [[(0.36, 0.25), (0.64, 0.25), (0.80, 0.78), (0.20, 0.78)]],
}
# Details that tell similar silhouettes apart: (kind, unit coordinates).
DETAILS: dict[str, list[tuple[str, Polygon]]] = {
    "shirt": [("collar", [(0.42, 0.15), (0.50, 0.26), (0.58, 0.15)]),
              ("buttons", [(0.50, y / 100) for y in range(32, 86, 9)])],
    "pullover": [("rib", [(0.28, 0.82), (0.72, 0.82)]), ("rib", [(0.13, 0.76), (0.21, 0.79)]),
                 ("rib", [(0.87, 0.76), (0.79, 0.79)])],
    "pants": [("rib", [(0.30, 0.14), (0.70, 0.14)])],
}


def _jitter(colour: tuple[int, int, int], rng: random.Random, amount: int = 14) -> tuple[int, ...]:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in colour)


def _background(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A light backdrop lit from a random side, with a soft shadow blob, like a photo studio."""
    width, height = size
    base = np.array(_jitter((215, 212, 205), rng, 25), dtype=np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    light = ((xs / width - 0.5) * np.cos(angle) + (ys / height - 0.5) * np.sin(angle)) * rng.uniform(30, 70)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    shadow = -rng.uniform(15, 45) * np.exp(-(((xs - cx) / (0.3 * width)) ** 2 + ((ys - cy) / (0.3 * height)) ** 2))
    pixels = np.clip(base + (light + shadow)[:, :, None], 0, 255)
    return Image.fromarray(pixels.astype(np.uint8))


def busy_background(size: tuple[int, int], rng: random.Random) -> Image.Image:
    """A patterned backdrop (stripes and spots of many colours), like a rug or a bed cover."""
    picture = Image.new("RGB", size, _jitter((rng.randint(40, 215),) * 3, rng, 40))
    draw = ImageDraw.Draw(picture)
    width, height = size
    palette = [tuple(rng.randint(0, 255) for _ in range(3)) for _ in range(4)]
    step = max(4, width // rng.randint(6, 12))
    for offset in range(-height, width, step * 2):
        draw.line([(offset, 0), (offset + height, height)], fill=rng.choice(palette), width=step // 2)
    for _ in range(40):
        x, y, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(1, width / 16)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rng.choice(palette))
    return picture


def draw_garment(category: str, colour: str, size: tuple[int, int] = (96, 128),
                 rng: random.Random | None = None, busy: bool = False) -> Image.Image:
    """One picture of a `colour` `category` (both from ``SHAPES`` / ``vocab.COLOURS``),
    on a studio backdrop or, `busy`, on a patterned one."""
    rng = rng or random.Random()
    width, height = size
    fill = _jitter(COLOURS[colour], rng)
    edge = tuple(int(c * 0.55) for c in fill)
    scale = rng.uniform(0.65, 0.95)
    dx, dy = rng.uniform(-0.1, 0.1), rng.uniform(-0.07, 0.07)

    def place(points: Polygon) -> list[tuple[float, float]]:
        return [(((x - 0.5) * scale + 0.5 + dx) * width, ((y - 0.5) * scale + 0.5 + dy) * height)
                for x, y in points]

    garment = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(garment)
    for polygon in SHAPES[category]:
        draw.polygon(place(polygon), fill=fill, outline=edge)
    line_width = max(1, width // 48)
    for kind, points in DETAILS.get(category, []):
        if kind == "buttons":
            for x, y in place(points):
                draw.ellipse((x - line_width, y - line_width, x + line_width, y + line_width), fill=edge)
        else:
            draw.line(place(points), fill=edge, width=line_width)
    garment = garment.rotate(rng.uniform(-8, 8), resample=Image.Resampling.BILINEAR)
    picture = busy_background(size, rng) if busy else _background(size, rng)
    picture.paste(garment, (0, 0), garment)
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, 4, (height, width, 3))
    pixels = np.clip(np.asarray(picture, np.float32) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(0.4))


NON_GARMENTS = ("banner", "logo", "icon")
_BANNER_WORDS = ("SALE -50%", "NEW IN", "FREE SHIPPING", "BLACK FRIDAY", "SUMMER DEALS", "GIFT CARDS")


def draw_non_garment(kind: str, size: tuple[int, int] = (400, 400), rng: random.Random | None = None) -> Image.Image:
    """A shop picture that shows no garment: a sale banner, a brand logo or a user-interface icon."""
    rng = rng or random.Random()
    width, height = size
    ink, paper = rng.sample(list(COLOURS.values()), 2)
    picture = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(picture)
    if kind == "banner":
        font = ImageFont.load_default(size=height // rng.randint(6, 9))
        draw.rectangle((0, height * 0.3, width, height * 0.7), fill=ink)
        draw.text((width / 2, height / 2), rng.choice(_BANNER_WORDS), fill=paper, font=font, anchor="mm")
    elif kind == "logo":
        r = min(size) * rng.uniform(0.25, 0.4)
        draw.ellipse((width / 2 - r, height / 2 - r, width / 2 + r, height / 2 + r), outline=ink, width=int(r / 6))
        letters = "".join(rng.choice("ABCDEFGHKLMNPRSTXZ") for _ in range(rng.randint(1, 3)))
        draw.text((width / 2, height / 2), letters, fill=ink, font=ImageFont.load_default(size=int(r * 0.8)),
                  anchor="mm")
    elif kind == "icon":
        unit = min(size) / 10
        shape = rng.choice(("cart", "heart", "magnifier"))
        if shape == "cart":
            draw.line([(2 * unit, 3 * unit), (3 * unit, 3 * unit), (4 * unit, 7 * unit), (8 * unit, 7 * unit),
                       (8.5 * unit, 4 * unit), (3.4 * unit, 4 * unit)], fill=ink, width=int(unit / 2))
            for x in (4.5, 7.5):
                draw.ellipse((x * unit - unit / 2, 8 * unit - unit / 2, x * unit + unit / 2, 8 * unit + unit / 2),
                             fill=ink)
        elif shape == "heart":
            draw.ellipse((2 * unit, 2.5 * unit, 5.2 * unit, 5.7 * unit), fill=ink)
            draw.ellipse((4.8 * unit, 2.5 * unit, 8 * unit, 5.7 * unit), fill=ink)
            draw.polygon([(2.2 * unit, 4.8 * unit), (7.8 * unit, 4.8 * unit), (5 * unit, 8.2 * unit)], fill=ink)
        else:
            draw.ellipse((2 * unit, 2 * unit, 6.5 * unit, 6.5 * unit), outline=ink, width=int(unit * 0.7))
            draw.line([(5.8 * unit, 5.8 * unit), (8.3 * unit, 8.3 * unit)], fill=ink, width=int(unit))
    else:
        raise ValueError(f"unknown non-garment kind {kind!r}; choose from {', '.join(NON_GARMENTS)}")
    return picture


def write_sample(root: Path, categories: list[str], colours: list[str], per_label: int,
                 size: tuple[int, int] = (96, 128), seed: int = 0) -> int:
    """Write ``root/<category>/<colour>/<n>.jpg`` pictures; returns how many were written."""
    rng = random.Random(seed)
    count = 0
    for category in categories:
        for colour in colours:
            folder = root / category / colour
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(per_label):
                draw_garment(category, colour, size, rng).save(folder / f"{index:04d}.jpg", quality=90)
                count += 1
    return count
