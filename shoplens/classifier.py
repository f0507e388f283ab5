"""One picture pipeline for the TorchServe handler and the Spark batch job (``serving.batch``).

decode -> preprocess -> the exported model -> answer, so both give the same answer for the
same bytes. A picture that cannot be decoded gets ``{"error": reason}`` and never fails the
rest of its batch. ``describe`` is the one place an answer is built from the model's outputs
(calibrated categories, garment or not, colour from the model or from the pixels).
It lives in the ground package because a ``.mar`` serves with ``shoplens`` alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from shoplens.bundle import BundleInfo
from shoplens.colour import ColourModel, read_colour
from shoplens.exported import COLOUR_FEATURES, DESCRIPTORS, EMBEDDING, Predict
from shoplens.imaging import ImageLimits, ImageRejected, decode_image
from shoplens.preprocessing import eval_pixels

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
    """One picture's answer from the model's log-probabilities (or logits) and scores for it (no batch axis).

    Category probabilities are the calibrated ones (softmax over the bundle's temperature);
    ``categories`` lists every category at or above the bundle's threshold (the top one always),
    so a filter finds an ambiguous picture under either label. A model with a garment score says
    whether the picture shows a garment at all. The colour comes from the model's colour head
    when it has one, or from the bundle's colour model (the pixels' features and the model's colour
    features), else from the pixels alone; the pixels' own estimate is reported beside a model's,
    and ``colour.source`` says which one the badge shows.
    """
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
    answer.update(_colour(outputs, info, image))
    return answer


def _colour(outputs: dict[str, Any], info: BundleInfo, image: Image.Image | None) -> dict[str, Any]:
    """The answer's ``colour`` (and ``colour_from_pixels`` beside a model's colour)."""
    reading = read_colour(image) if image is not None else None
    if "colour" in outputs:
        logits, names = outputs["colour"], info.tasks["colour"]
    elif reading is not None and info.colour_model and COLOUR_FEATURES in outputs:
        model = ColourModel.from_json(info.colour_model)
        features = np.concatenate([reading.features, np.asarray(outputs[COLOUR_FEATURES], dtype=np.float64)])
        logits, names = model.logits(features), model.names
    else:
        return {"colour": reading.estimate.as_dict()} if reading is not None else {}
    colour = softmax(logits)
    best = int(colour.argmax())
    chosen = {"label": names[best], "probability": round(float(colour[best]), 4), "source": "model"}
    return {"colour": chosen, **({"colour_from_pixels": reading.estimate.as_dict()} if reading is not None else {})}


@dataclass
class Prepared:
    """A batch of pictures ready for the model: the decodable ones stacked, the others' reasons."""

    pixels: np.ndarray | None
    errors: list[str | None]  # per input picture: None or why it was not classified
    images: list[Image.Image] = field(default_factory=list)  # the decoded pictures, in row order (colour)

    @property
    def sizes(self) -> list[tuple[int, int] | None]:
        """Per input picture, its (width, height) as decoded (None for an error)."""
        return [None if row is None else self.images[row].size for row in self.rows()]

    def rows(self) -> list[int | None]:
        """Per input picture, its row in ``pixels`` (None for an error)."""
        count, rows = 0, []
        for error in self.errors:
            rows.append(None if error is not None else count)
            count += error is None
        return rows


class PictureClassifier:
    """The bundle's model with its preprocessing and answer: what both TorchServe and Spark run."""

    def __init__(self, info: BundleInfo, predict: Predict, margin: float, limits: ImageLimits | None = None) -> None:
        self.info, self.predict_pixels, self.margin = info, predict, margin
        self.limits = limits or ImageLimits()

    def prepare(self, pictures: Sequence[bytes | ImageRejected]) -> Prepared:
        """Decode and preprocess; an ImageRejected in place of bytes is an error already known."""
        stacked, errors, images = [], [], []
        for picture in pictures:
            try:
                if isinstance(picture, ImageRejected):
                    raise picture
                image = decode_image(picture, self.limits)
                stacked.append(eval_pixels(image, self.info.preprocessing))
                errors.append(None)
                images.append(image)
            except ImageRejected as exc:
                errors.append(exc.reason)
        return Prepared(np.stack(stacked) if stacked else None, errors, images)

    def predict(self, prepared: Prepared) -> dict[str, np.ndarray]:
        return {} if prepared.pixels is None else self.predict_pixels(prepared.pixels)

    def answers(self, prepared: Prepared, outputs: dict[str, np.ndarray],
                with_embedding: Sequence[bool] | None = None) -> list[dict[str, Any]]:
        """Per input picture, its answer (with model and version) or ``{"error": reason}``; the
        pictures flagged in `with_embedding` also get their descriptors: EMBEDDING (None if the model has
        none) and COPY_EMBEDDING where the model has it."""
        per_picture = {name: values for name, values in outputs.items() if name not in DESCRIPTORS}
        flags = with_embedding or [False] * len(prepared.errors)
        answers = []
        for error, row, embedding_asked in zip(prepared.errors, prepared.rows(), flags, strict=True):
            if row is None:
                answers.append({"error": error})
                continue
            answer = describe({name: out[row] for name, out in per_picture.items()}, self.info, prepared.images[row],
                              self.margin)
            if embedding_asked:
                answer[EMBEDDING] = outputs[EMBEDDING][row].tolist() if EMBEDDING in outputs else None
                answer.update({name: outputs[name][row].tolist() for name in DESCRIPTORS[1:] if name in outputs})
            answers.append({**answer, "model": self.info.arch, "version": self.info.version})
        return answers
