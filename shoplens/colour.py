"""A garment's dominant colour read from its pixels, named in the project's base colours.

Shop photographs show one garment near the middle on a floor, bed, wall or rug, often
under dim light. The picture's exposure is first set by its own bright end (its 99th
percentile brought to full scale, at most doubled): a white shirt on a dark floor is
the brightest thing in the scene and reads white, not grey. The background is
estimated from the picture's border (its main colours in CIELAB); pixels close to one of
them are background. Every other pixel is named (lightness and chroma first: black, grey
and white are colours without chroma; otherwise the hue angle, with lightness parting
red from pink and orange from brown) and votes for its name with a weight that falls off
from the centre; the name with most weight wins. Voting by name rather than averaging
cluster centres keeps a striped or printed garment from turning grey.

Blue needs less chroma than other hues (navy in a dim photograph keeps about 4 units of
it), except where it is near black or near white (a tint on a black or white garment);
a light yellow needs more (cream is white).

The thresholds were tuned on ``bench/colour_labels_train.csv`` (160 clothing-small train
pictures labelled by eye, coordinate descent over a grid of each threshold); the
validation labels of ``bench/colour_labels.csv`` only evaluate.

A bundle may carry a ``ColourModel``: a logistic regression, fitted on pictures labelled by eye, over
this reading's features (``ColourReading.features``: the votes under several centre widths, with and
without the background, lightness and chroma statistics, the border's colour) and the model's own
trunk features. It names colours the thresholds cannot: how dark a navy still reads blue depends on
the whole photograph.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image
from skimage.color import rgb2lab

WORK_SIDE = 96  # pixels on the longer side: colour needs no detail
EXPOSURE_PERCENTILE, MAX_EXPOSURE_GAIN = 99.0, 2.0  # this percentile of the brightest channel becomes full scale
BORDER = 0.08  # fraction of each side read as the background's sample
BORDER_COLOUR_SHARE = 0.15  # a border colour covering less than this is part of the garment, not background
KMEANS_ATTEMPTS = 2  # k-means runs from different starts, the tightest kept
KMEANS_STOP = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 300, 1e-4)  # iterations, CIELAB units moved
KMEANS_SEED = 0  # OpenCV draws starts from a global generator: seeded so a picture always reads the same
BACKGROUND_DISTANCE = 14.0  # CIELAB (CIE76) units from a border colour that still count as background
CENTRE_SIGMA = 0.22  # of the picture's sides: how fast a pixel's vote falls off from the centre
MIN_GARMENT_WEIGHT = 0.02  # less left after removing background: garment and background alike, keep the centre

CHROMA_GREY, BLUE_CHROMA = 14.0, 4.0  # below this chroma a colour is black, grey or white
DARK, DARK_SLOPE = 14.0, 2.0  # below lightness DARK each unit darker asks DARK_SLOPE more chroma
PALE_BLUE_CHROMA, CREAM_CHROMA = 10.0, 20.0  # what a blue or a yellow lighter than LIGHTNESS_WHITE needs
LIGHTNESS_BLACK, LIGHTNESS_WHITE = 40.0, 82.0
# CIELAB hue angles (degrees) where each chromatic name begins; hues past 110 and before -130 are green
HUES = ((-130.0, "blue"), (-60.0, "purple"), (-20.0, "pink"), (-10.0, "red"), (35.0, "orange"), (65.0, "yellow"),
        (110.0, "green"))
PINK_LIGHTNESS, BROWN_LIGHTNESS, DARK_YELLOW = 55.0, 50.0, 60.0  # light red is pink, dark orange brown
NAMES = ("black", "grey", "white", *(name for _, name in HUES if name != "pink"), "pink", "brown")
_HUE_STARTS = np.array([start for start, _ in HUES])
_HUE_NAMES = np.array([NAMES.index(name) for _, name in HUES])  # index -1 (before the first start): green
_INDEX = {name: index for index, name in enumerate(NAMES)}


@dataclass(frozen=True)
class ColourEstimate:
    name: str
    lab: tuple[float, float, float]  # mean CIELAB colour of the pixels that voted for the name
    share: float  # the name's share of the garment's votes

    def as_dict(self) -> dict[str, object]:
        return {"label": self.name, "share": round(self.share, 4), "source": "pixels"}


def _lab_pixels(image: Image.Image) -> np.ndarray:
    small = image.convert("RGB")
    small.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.BILINEAR)
    rgb = np.asarray(small, dtype=np.float64) / 255.0
    bright_end = np.percentile(rgb.max(axis=2), EXPOSURE_PERCENTILE)
    return rgb2lab(np.clip(rgb * min(MAX_EXPOSURE_GAIN, 1.0 / max(bright_end, 1e-3)), 0.0, 1.0))


def _border(lab: np.ndarray) -> np.ndarray:
    h, w, _ = lab.shape
    bh, bw = max(1, round(h * BORDER)), max(1, round(w * BORDER))
    return np.concatenate([lab[:bh].reshape(-1, 3), lab[-bh:].reshape(-1, 3),
                           lab[:, :bw].reshape(-1, 3), lab[:, -bw:].reshape(-1, 3)])


def _background_colours(border: np.ndarray, k: int = 3) -> np.ndarray:
    """The border's main colours (cluster centres covering at least BORDER_COLOUR_SHARE of it). OpenCV's
    k-means (k-means++ starts, seeded) costs 1 ms a picture where scikit-learn's took 3.7 (clothing-small, 2 cores)."""
    tenths = np.round(border * 10).astype(np.int64)  # distinct colours at 0.1 CIELAB unit, as one key each
    k = min(k, len(np.unique((tenths[:, 0] << 40) + ((tenths[:, 1] + 2048) << 20) + tenths[:, 2] + 2048)))
    cv2.setRNGSeed(KMEANS_SEED)
    _, labels, centres = cv2.kmeans(border.astype(np.float32), k, None, KMEANS_STOP, KMEANS_ATTEMPTS,
                                    cv2.KMEANS_PP_CENTERS)
    shares = np.bincount(labels.ravel(), minlength=k) / len(border)
    return centres.astype(np.float64)[shares >= BORDER_COLOUR_SHARE]


def _centre_weights(h: int, w: int, sigma: float = CENTRE_SIGMA) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    d2 = ((y - (h - 1) / 2) / h) ** 2 + ((x - (w - 1) / 2) / w) ** 2
    return np.exp(-d2 / (2 * sigma**2)).reshape(-1)


def colour_names(lab: np.ndarray) -> np.ndarray:
    """The base colour (index into NAMES) of each CIELAB colour of an (N, 3) array."""
    lightness, a, b = lab[:, 0], lab[:, 1], lab[:, 2]
    chroma, hue = np.hypot(a, b), np.degrees(np.arctan2(b, a))
    names = _HUE_NAMES[np.searchsorted(_HUE_STARTS, hue, side="right") - 1]
    index = _INDEX
    names[(names == index["red"]) & (lightness > PINK_LIGHTNESS)] = index["pink"]
    names[(names == index["orange"]) & (lightness < BROWN_LIGHTNESS)] = index["brown"]
    dark_yellow = (names == index["yellow"]) & (lightness < DARK_YELLOW)
    names[dark_yellow] = np.where(hue[dark_yellow] < 88, index["brown"], index["green"])
    # near black a little noise is a lot of chroma, and near white a tint is not a colour
    needed = np.where(names == index["blue"], BLUE_CHROMA, CHROMA_GREY) + np.maximum(0.0, DARK - lightness) * DARK_SLOPE
    light = lightness > LIGHTNESS_WHITE
    needed[light & (names == index["blue"])] = PALE_BLUE_CHROMA
    needed[light & (names == index["yellow"])] = CREAM_CHROMA
    achromatic = chroma < needed
    names[achromatic] = np.select([lightness[achromatic] < LIGHTNESS_BLACK, lightness[achromatic] > LIGHTNESS_WHITE],
                                  [index["black"], index["white"]], index["grey"])
    return names


def colour_name(lab: np.ndarray) -> str:
    """The base colour of one CIELAB colour."""
    return NAMES[int(colour_names(np.asarray(lab, dtype=np.float64).reshape(1, 3))[0])]


@dataclass(frozen=True)
class ColourReading:
    """A picture's colour estimate and the features a learned colour model reads."""

    estimate: ColourEstimate
    features: np.ndarray  # (READING_FEATURES,) float64


FEATURE_SIGMAS = (0.12, CENTRE_SIGMA, 0.4)  # centre widths whose votes the features hold
READING_FEATURES = 2 * len(FEATURE_SIGMAS) * len(NAMES) + 14


def _votes(names: np.ndarray, weights: np.ndarray) -> np.ndarray:
    votes = np.bincount(names, weights=weights, minlength=len(NAMES))
    return votes / max(votes.sum(), 1e-12)


def _weighted_quantiles(values: np.ndarray, weights: np.ndarray, quantiles: tuple[float, ...]) -> list[float]:
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order]) / weights.sum()
    picks = np.minimum(np.searchsorted(cumulative, quantiles), len(values) - 1)
    return [float(v) for v in values[order][picks]]


def _features(pixels: np.ndarray, names: np.ndarray, garment: np.ndarray, weights: np.ndarray,
              border: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Votes for every name under each centre width, of the garment and of the whole picture; the garment's
    mean CIELAB colour and chroma, lightness and chroma quantiles; the border's mean colour and chroma; the
    share of pixels taken for garment. CIELAB statistics are divided by 50 to sit near the votes' scale."""
    votes = []
    for sigma in FEATURE_SIGMAS:
        centre = _centre_weights(*shape, sigma)
        masked = centre * garment
        votes += [_votes(names, masked if masked.sum() > 1e-6 else centre), _votes(names, centre)]
    chroma = np.hypot(pixels[:, 1], pixels[:, 2])
    share = weights / weights.sum()
    lab = [*(pixels * share[:, None]).sum(0), float((chroma * share).sum()),
           *_weighted_quantiles(pixels[:, 0], share, (0.1, 0.5, 0.9)), *_weighted_quantiles(chroma, share, (0.5, 0.9)),
           *border.mean(0), float(np.hypot(border[:, 1], border[:, 2]).mean())]
    return np.concatenate([*votes, np.array(lab) / 50.0, [float(garment.mean())]])


def read_colour(image: Image.Image) -> ColourReading:
    """The garment's dominant colour (background from the border removed, each pixel's name voting, centre
    weighted) and the features of the same reading."""
    lab = _lab_pixels(image)
    h, w, _ = lab.shape
    pixels, border = lab.reshape(-1, 3), _border(lab)
    background = _background_colours(border)
    garment = np.min(np.linalg.norm(pixels[:, None, :] - background[None], axis=2), axis=1) > BACKGROUND_DISTANCE
    centre = _centre_weights(h, w)
    weights = centre * garment
    if weights.sum() < MIN_GARMENT_WEIGHT * centre.sum():
        weights = centre
    names = colour_names(pixels)
    votes = np.bincount(names, weights=weights, minlength=len(NAMES))
    best = int(votes.argmax())
    chosen = weights * (names == best)
    mean = (pixels * chosen[:, None]).sum(0) / chosen.sum()
    estimate = ColourEstimate(NAMES[best], tuple(float(v) for v in mean), float(votes[best] / votes.sum()))
    return ColourReading(estimate, _features(pixels, names, garment, weights, border, (h, w)))


def dominant_colour(image: Image.Image) -> ColourEstimate:
    """The garment's dominant colour read from its pixels (see `read_colour`)."""
    return read_colour(image).estimate


def _array_to_json(array: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(array, dtype="<f4")
    return {"shape": list(data.shape), "float32_base64": base64.b64encode(data.tobytes()).decode("ascii")}


def _array_from_json(value: dict[str, Any]) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(value["float32_base64"]), dtype="<f4")
    return data.reshape(value["shape"]).astype(np.float64)


@dataclass(frozen=True)
class ColourModel:
    """Multinomial logistic regression over standardised [reading features, the model's colour features]."""

    names: tuple[str, ...]
    mean: np.ndarray  # (D,) the training features' mean and standard deviation
    scale: np.ndarray
    coef: np.ndarray  # (len(names), D)
    intercept: np.ndarray  # (len(names),)
    figures: dict[str, Any]  # how it was fitted and how well it did, for the model card

    def logits(self, features: np.ndarray) -> np.ndarray:
        """(..., len(names)) logits of features (..., D): [reading features, the model's colour features]."""
        if features.shape[-1] != self.mean.shape[0]:
            raise ValueError(f"the colour model reads {self.mean.shape[0]} features, not {features.shape[-1]}")
        return ((features - self.mean) / self.scale) @ self.coef.T + self.intercept

    def to_json(self) -> dict[str, Any]:
        return {"names": list(self.names), "figures": self.figures,
                **{key: _array_to_json(getattr(self, key)) for key in ("mean", "scale", "coef", "intercept")}}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ColourModel:
        arrays = {key: _array_from_json(value[key]) for key in ("mean", "scale", "coef", "intercept")}
        return cls(tuple(value["names"]), figures=value.get("figures", {}), **arrays)
