"""One picture pipeline for the TorchServe handler and the Spark batch job (``serving.batch``).

decode -> preprocess -> the exported model -> answer, so both give the same answer for the
same bytes. A picture that cannot be decoded gets ``{"error": reason}`` and never fails the
rest of its batch. ``describe`` is the one place an answer is built from the model's outputs.
It lives in the ground package because a ``.mar`` serves with ``shoplens`` alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shoplens.bundle import BundleInfo
from shoplens.exported import EMBEDDING, Predict
from shoplens.imaging import ImageLimits, ImageRejected, decode_image
from shoplens.preprocessing import eval_pixels

TOP_K = 3


def describe(probs: dict[str, Any], tasks: dict[str, list[str]], margin: float) -> dict[str, Any]:
    """One picture's answer: top-k categories, the colour when predicted, a low-confidence flag."""
    category = np.asarray(probs["category"])
    top = np.argsort(-category, kind="stable")[:TOP_K]
    labels = [{"label": tasks["category"][int(i)], "probability": round(float(category[i]), 4)} for i in top]
    second = float(category[top[1]]) if len(top) > 1 else 0.0
    answer: dict[str, Any] = {"labels": labels, "category": labels[0]["label"],
                              "low_confidence": float(category[top[0]]) - second < margin}
    if "colour" in probs:
        colour = np.asarray(probs["colour"])
        best = int(colour.argmax())
        answer["colour"] = {"label": tasks["colour"][best], "probability": round(float(colour[best]), 4)}
    return answer


@dataclass
class Prepared:
    """A batch of pictures ready for the model: the decodable ones stacked, the others' reasons."""

    pixels: np.ndarray | None
    errors: list[str | None]  # per input picture: None or why it was not classified
    sizes: list[tuple[int, int] | None] = field(default_factory=list)  # (width, height) as decoded

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
        stacked, errors, sizes = [], [], []
        for picture in pictures:
            try:
                if isinstance(picture, ImageRejected):
                    raise picture
                image = decode_image(picture, self.limits)
                stacked.append(eval_pixels(image, self.info.preprocessing))
                errors.append(None)
                sizes.append(image.size)
            except ImageRejected as exc:
                errors.append(exc.reason)
                sizes.append(None)
        return Prepared(np.stack(stacked) if stacked else None, errors, sizes)

    def predict(self, prepared: Prepared) -> dict[str, np.ndarray]:
        return {} if prepared.pixels is None else self.predict_pixels(prepared.pixels)

    def answers(self, prepared: Prepared, outputs: dict[str, np.ndarray],
                with_embedding: Sequence[bool] | None = None) -> list[dict[str, Any]]:
        """Per input picture, its answer (with model and version) or ``{"error": reason}``; the
        pictures flagged in `with_embedding` also get their embedding (None if the model has none)."""
        probs = {name: values for name, values in outputs.items() if name != EMBEDDING}
        flags = with_embedding or [False] * len(prepared.errors)
        answers = []
        for error, row, embedding_asked in zip(prepared.errors, prepared.rows(), flags, strict=True):
            if row is None:
                answers.append({"error": error})
                continue
            answer = describe({task: p[row] for task, p in probs.items()}, self.info.tasks, self.margin)
            if embedding_asked:
                answer[EMBEDDING] = outputs[EMBEDDING][row].tolist() if EMBEDDING in outputs else None
            answers.append({**answer, "model": self.info.arch, "version": self.info.version})
        return answers
