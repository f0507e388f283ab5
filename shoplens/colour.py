"""A garment's dominant colour read from its pixels, named in the project's base colours.

Shop photographs show one garment near the middle on a floor, bed, wall or rug. The
background is estimated from the picture's border (its main colours in CIELAB); pixels
close to one of them are background. The rest, weighted towards the centre, are
clustered in CIELAB and the heaviest cluster is the garment's colour. Its name comes
from lightness and chroma first (black, grey, white are colours without chroma) and
otherwise from the hue angle (with lightness parting red from pink and orange from brown).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from skimage.color import rgb2lab
from sklearn.cluster import KMeans

WORK_SIDE = 96  # pixels on the longer side: colour needs no detail
BORDER = 0.08  # fraction of each side read as the background's sample
BACKGROUND_DISTANCE = 14.0  # CIELAB (CIE76) units from a border colour that still count as background
CHROMA_GREY = 12.0  # below this chroma a colour is black, grey or white
LIGHTNESS_BLACK, LIGHTNESS_WHITE = 30.0, 78.0


@dataclass(frozen=True)
class ColourEstimate:
    name: str
    lab: tuple[float, float, float]
    share: float  # the named cluster's share of the garment's weight

    def as_dict(self) -> dict[str, object]:
        return {"label": self.name, "share": round(self.share, 4), "source": "pixels"}


def _lab_pixels(image: Image.Image) -> np.ndarray:
    small = image.convert("RGB")
    small.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BILINEAR)
    return rgb2lab(np.asarray(small, dtype=np.float64) / 255.0)


def _border(lab: np.ndarray) -> np.ndarray:
    h, w, _ = lab.shape
    bh, bw = max(1, round(h * BORDER)), max(1, round(w * BORDER))
    return np.concatenate([lab[:bh].reshape(-1, 3), lab[-bh:].reshape(-1, 3),
                           lab[:, :bw].reshape(-1, 3), lab[:, -bw:].reshape(-1, 3)])


def _main_colours(pixels: np.ndarray, k: int, weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cluster centres and their weight shares, heaviest first."""
    k = min(k, len(np.unique(pixels.round(1), axis=0)))
    model = KMeans(n_clusters=k, n_init=2, random_state=0).fit(pixels, sample_weight=weights)
    shares = np.bincount(model.labels_, weights=weights, minlength=k)
    shares = shares / shares.sum()
    order = np.argsort(-shares)
    return model.cluster_centers_[order], shares[order]


def _centre_weights(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    d2 = ((y - (h - 1) / 2) / h) ** 2 + ((x - (w - 1) / 2) / w) ** 2
    return np.exp(-d2 / (2 * 0.22**2))


# CIELAB hue angles (degrees) where each chromatic name begins, read off shop photographs:
# navy and denim keep a blue hue at chroma where other colours already look grey.
_HUES = ((-150.0, "blue"), (-52.0, "purple"), (-30.0, "red"), (45.0, "orange"), (75.0, "yellow"), (110.0, "green"))
BLUE_CHROMA = 6.5
DARK, DARK_BLUE = 25.0, 15.0  # lightness below which more chroma is needed


def _hue_name(hue: float, lightness: float) -> str:
    name = "green"  # hues past 110 and before -150
    for start, candidate in _HUES:
        if hue >= start:
            name = candidate
    if name == "red" and lightness > 55:
        return "pink"
    if name == "orange" and lightness < 50:
        return "brown"
    if name == "yellow" and lightness < 60:
        return "brown" if hue < 88 else "green"
    return name


def colour_name(lab: np.ndarray) -> str:
    """The base colour of one CIELAB colour: black/grey/white by lightness when it has no chroma."""
    lightness, chroma = float(lab[0]), float(np.hypot(lab[1], lab[2]))
    hue = float(np.degrees(np.arctan2(lab[2], lab[1])))
    name = _hue_name(hue, lightness)
    # near black, a little noise is a lot of chroma: ask more of dark colours (not of navy)
    base, dark = (BLUE_CHROMA, DARK_BLUE) if name == "blue" else (CHROMA_GREY, DARK)
    needed = base + max(0.0, dark - lightness) * 0.5
    if chroma >= needed:
        return name
    if lightness < LIGHTNESS_BLACK:
        return "black"
    return "white" if lightness > LIGHTNESS_WHITE else "grey"


def dominant_colour(image: Image.Image) -> ColourEstimate:
    """The garment's dominant colour: background from the border removed, centre weighted."""
    lab = _lab_pixels(image)
    h, w, _ = lab.shape
    pixels = lab.reshape(-1, 3)
    background, shares = _main_colours(_border(lab), 3)
    background = background[shares >= 0.15]
    distance = np.min(np.linalg.norm(pixels[:, None, :] - background[None], axis=2), axis=1)
    weights = _centre_weights(h, w).reshape(-1) * (distance > BACKGROUND_DISTANCE)
    if weights.sum() < 0.02 * _centre_weights(h, w).sum():  # garment and background alike: keep the centre
        weights = _centre_weights(h, w).reshape(-1)
    keep = weights > 1e-3
    centres, shares = _main_colours(pixels[keep], 4, weights[keep])
    return ColourEstimate(colour_name(centres[0]), tuple(float(v) for v in centres[0]), float(shares[0]))
