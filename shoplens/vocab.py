"""The label vocabulary: garment categories, colours, and the search terms joining them.

A search term is "<colour> <category>" ("red dress"); the crawler stores its pictures
under ``<category>/<colour>/`` and that folder pair is the label training learns.
"""

from __future__ import annotations

import re

from shoplens import ShopLensError

CATEGORIES: tuple[str, ...] = (
    "dress", "shirt", "pullover", "t-shirt", "longsleeve", "outwear",
    "pants", "shorts", "skirt", "shoes", "hat",
)

# Reference sRGB values: used to draw sample garments and to name a colour from pixels.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (200, 30, 40),
    "orange": (240, 130, 20),
    "yellow": (240, 210, 40),
    "green": (40, 150, 60),
    "blue": (30, 70, 200),
    "purple": (120, 50, 160),
    "pink": (240, 130, 180),
    "brown": (120, 75, 40),
    "black": (25, 25, 25),
    "grey": (128, 128, 128),
    "white": (240, 240, 240),
}

_SYNONYMS = {
    "gray": "grey", "navy": "blue", "beige": "brown", "tan": "brown",
    "violet": "purple", "jumper": "pullover", "sweater": "pullover",
    "tshirt": "t-shirt", "tee": "t-shirt", "trousers": "pants", "jeans": "pants",
    "coat": "outwear", "jacket": "outwear", "dresses": "dress", "shirts": "shirt",
}

_SLUG = re.compile(r"[^a-z0-9-]+")


def slug(text: str) -> str:
    """Lower-case, hyphenated form used for folder names and label keys."""
    cleaned = _SLUG.sub("-", text.strip().lower()).strip("-")
    if not cleaned:
        raise ShopLensError(f"empty label: {text!r}")
    singular = cleaned[:-1] if cleaned.endswith("s") else cleaned
    if cleaned not in CATEGORIES and cleaned not in _SYNONYMS and (singular in CATEGORIES or singular in _SYNONYMS):
        cleaned = singular  # plural of a known word: "jumpers", "skirts"
    return _SYNONYMS.get(cleaned, cleaned)


def term(category: str, colour: str | None = None) -> str:
    """The search term for a label: ``term("dress", "red") == "red dress"``."""
    return f"{slug(colour)} {slug(category)}" if colour else slug(category)


def parse_term(text: str) -> tuple[str, str | None]:
    """Split a search term into (category, colour); the colour is None when absent.

    A known colour word anywhere in the term is the colour; the rest is the category,
    so "red dress", "dress red" and "Red  Dress" all give ("dress", "red").
    """
    words = [slug(w) for w in text.split() if _SLUG.sub("", w.lower())]
    if not words:
        raise ShopLensError(f"empty search term: {text!r}")
    colours = [w for w in words if w in COLOURS]
    rest = [w for w in words if w not in COLOURS]
    if len(colours) > 1 or not rest:
        raise ShopLensError(f"search term {text!r} must name one category and at most one colour")
    return slug("-".join(rest)), colours[0] if colours else None
