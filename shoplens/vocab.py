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

# The CSS/X11 colours by family (the grouping colour charts use), moved where a shopper's
# name differs: CSS "brown" (165, 42, 42) and maroon are reds to the eye, goldenrod a
# yellow, dark slate blue a blue. The word "brown" itself still means brown.
CSS_FAMILIES: dict[str, str] = {
    "pink": "pink lightpink hotpink deeppink palevioletred mediumvioletred",
    "purple": "lavender thistle plum orchid violet fuchsia magenta mediumorchid darkorchid darkviolet blueviolet "
              "darkmagenta purple mediumpurple mediumslateblue slateblue rebeccapurple indigo",
    "red": "lightsalmon salmon darksalmon lightcoral indianred crimson red firebrick darkred maroon brown",
    "orange": "orange darkorange coral tomato orangered",
    "yellow": "gold yellow lightyellow lemonchiffon lightgoldenrodyellow papayawhip moccasin peachpuff "
              "palegoldenrod khaki darkkhaki goldenrod",
    "green": "greenyellow chartreuse lawngreen lime limegreen palegreen lightgreen mediumspringgreen springgreen "
             "mediumseagreen seagreen forestgreen green darkgreen yellowgreen olivedrab olive darkolivegreen "
             "mediumaquamarine darkseagreen lightseagreen darkcyan teal",
    "blue": "aqua cyan lightcyan paleturquoise aquamarine turquoise mediumturquoise darkturquoise cadetblue "
            "steelblue lightsteelblue powderblue lightblue skyblue lightskyblue deepskyblue dodgerblue "
            "cornflowerblue royalblue blue mediumblue darkblue navy midnightblue darkslateblue",
    "brown": "cornsilk blanchedalmond bisque navajowhite wheat burlywood tan rosybrown sandybrown "
             "darkgoldenrod peru chocolate saddlebrown sienna",
    "white": "white snow honeydew mintcream azure aliceblue ghostwhite whitesmoke seashell beige oldlace "
             "floralwhite ivory antiquewhite linen lavenderblush mistyrose",
    "grey": "gainsboro lightgray silver darkgray gray dimgray lightslategray slategray darkslategray",
    "black": "black",
}

# Shop colour words outside CSS/X11, with the sRGB a shopper would picture (CSS names and
# values come from webcolors); where fashion means something else by a CSS word (khaki),
# this table wins.
FASHION_COLOURS: dict[str, tuple[int, int, int]] = {
    "burgundy": (128, 0, 32), "bordeaux": (92, 1, 32), "wine": (114, 47, 55), "claret": (127, 23, 52),
    "oxblood": (74, 0, 0), "cherry": (210, 4, 45), "scarlet": (255, 36, 0), "rust": (183, 65, 14),
    "terracotta": (204, 78, 92), "mustard": (225, 173, 1), "ochre": (204, 119, 34), "camel": (193, 154, 107),
    "cognac": (154, 70, 61), "caramel": (175, 111, 9), "mocha": (150, 120, 90), "taupe": (72, 60, 50),
    "khaki": (195, 176, 145), "sand": (194, 178, 128), "stone": (180, 170, 155), "cream": (255, 253, 208),
    "ecru": (205, 178, 128), "off-white": (250, 249, 246), "nude": (227, 188, 154), "charcoal": (54, 69, 79),
    "graphite": (65, 66, 76), "anthracite": (56, 62, 66), "ash": (178, 190, 181), "jet": (52, 52, 52),
    "ink": (39, 40, 56), "marine": (0, 32, 96), "denim": (21, 96, 189), "cobalt": (0, 71, 171),
    "sapphire": (15, 82, 186),
    "petrol": (0, 95, 106), "aqua": (0, 200, 200), "mint": (152, 255, 152), "sage": (178, 172, 136),
    "emerald": (80, 200, 120), "forest": (34, 139, 34), "bottle": (0, 106, 78), "khaki-green": (138, 134, 93),
    "lilac": (200, 162, 200), "mauve": (224, 176, 255), "lavender": (181, 126, 220), "aubergine": (97, 64, 81),
    "plum": (142, 69, 133), "fuchsia": (255, 0, 255), "blush": (222, 93, 131), "rose": (255, 0, 127),
    "dusty-pink": (210, 160, 160), "peach": (255, 203, 164), "apricot": (251, 206, 177),
    "tangerine": (242, 133, 0),
    "multicolour": (128, 128, 128),
}
COLOUR_ALIASES = {"gray": "grey", "multicolor": "multicolour", "multi": "multicolour", "offwhite": "off-white"}

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


def _lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """CIELAB (D65) of an sRGB colour: distances there follow what eyes see."""
    def linear(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    xyz = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047, 0.2126 * r + 0.7152 * g + 0.0722 * b, \
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in xyz]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


def _nearest_named(rgb: tuple[int, int, int], table: dict[str, tuple[int, int, int]]) -> str:
    lab = _lab(rgb)
    return min(table, key=lambda name: sum((a - b) ** 2 for a, b in zip(lab, _lab(table[name]), strict=True)))


def _named_colours() -> dict[str, str]:
    """Every colour name a shop may use -> base colour. A CSS/X11 name takes its family's
    base colour; any other name (fashion's) takes the family of the CSS colour nearest to
    it in CIELAB."""
    import webcolors

    css = {name: tuple(webcolors.name_to_rgb(name)) for name in webcolors.names("css3")}
    family = {name: base for base, names in CSS_FAMILIES.items() for name in names.split()}
    named = {name: family[name.replace("grey", "gray")] for name in css}
    named.update({name: named[_nearest_named(rgb, css)] for name, rgb in FASHION_COLOURS.items()})
    named.update({name: name for name in COLOURS})
    return named


_NAMED: dict[str, str] = {}


def base_colour(text: str) -> str | None:
    """The base colour a shop's colour text names ("Burgundy", "Navy", "Sky Blue",
    "light-grey", "Basic Tee - Black / M"), or None. The longest colour name in the text
    wins; a compound ending in a base colour word ("sky blue") is that base colour."""
    if not _NAMED:
        _NAMED.update(_named_colours())
    words = [COLOUR_ALIASES.get(w, w) for w in re.findall(r"[a-z]+(?:-[a-z]+)*", text.lower())]
    for size in (3, 2, 1):
        for start in range(len(words) - size + 1):
            run = words[start:start + size]
            for key in ("".join(run), "-".join(run)):
                if key in _NAMED:
                    # "sky blue", "jet black", "dark olive green": a shade followed by a base colour word
                    # is that colour
                    following = words[start + size:start + size + 1]
                    return run[-1] if run[-1] in COLOURS else following[0] if following and \
                        following[0] in COLOURS else _NAMED[key]
    return None
