"""One picture's answer from a model's outputs and its bundle: what the API returns per picture.

Category probabilities are the calibrated ones (softmax of logits over the bundle's
temperature); ``categories`` lists every category at or above the bundle's threshold
(the top one always), so a filter finds an ambiguous picture under either label. A model
with a garment score says whether the picture shows a garment at all. The colour comes
from the model's colour head when it has one, else from the pixels; both are reported
when both exist, and ``colour.source`` says which one the badge shows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from shoplens.bundle import BundleInfo
from shoplens.colour import dominant_colour

TOP_K = 3


def softmax(logits: Any) -> np.ndarray:
    shifted = np.asarray(logits, dtype=np.float64)
    shifted = shifted - shifted.max(-1, keepdims=True)
    return np.exp(shifted) / np.exp(shifted).sum(-1, keepdims=True)


def calibrated_probabilities(logits: Any, info: BundleInfo) -> np.ndarray:
    """softmax(logits / T); log-probabilities give the same (they differ from logits by a constant)."""
    return softmax(np.asarray(logits, dtype=np.float64) / float(info.calibration.get("temperature", 1.0)))


def _labelled(probs: np.ndarray, labels: list[str], indices: Any) -> list[dict[str, Any]]:
    return [{"label": labels[int(i)], "probability": round(float(probs[i]), 4)} for i in indices]


def describe(outputs: dict[str, Any], info: BundleInfo, image: Image.Image | None, margin: float) -> dict[str, Any]:
    """The answer for one picture: `outputs` are the model's logits or log-probabilities for it (no batch
    axis), and its scores ("garment")."""
    labels = info.tasks["category"]
    probs = calibrated_probabilities(outputs["category"], info)
    ranked_all = np.argsort(-probs, kind="stable")
    top = ranked_all[:TOP_K]
    ranked = _labelled(probs, labels, top)
    second = float(probs[top[1]]) if len(top) > 1 else 0.0
    threshold = info.category_threshold if info.category_threshold is not None else 1.0
    chosen = [i for i in ranked_all if i == top[0] or probs[i] >= threshold]
    answer: dict[str, Any] = {"labels": ranked, "category": ranked[0]["label"],
                              "categories": _labelled(probs, labels, chosen),
                              "low_confidence": float(probs[top[0]]) - second < margin}
    if "garment" in outputs and info.garment_threshold is not None:
        score = float(outputs["garment"])
        answer["garment"] = score >= info.garment_threshold
        answer["garment_score"] = round(score - info.garment_threshold, 4)
    from_pixels = dominant_colour(image).as_dict() if image is not None else None
    if "colour" in outputs:
        colour = softmax(outputs["colour"])
        best = int(colour.argmax())
        answer["colour"] = {"label": info.tasks["colour"][best], "probability": round(float(colour[best]), 4),
                            "source": "model"}
        if from_pixels:
            answer["colour_from_pixels"] = from_pixels
    elif from_pixels:
        answer["colour"] = from_pixels
    return answer
