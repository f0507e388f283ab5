"""TorchServe handler for ShopLens model bundles: preprocess / inference / postprocess.

The ``.mar`` carries the bundle (``bundle.json`` + ``weights.pt``); the worker imports
this project from its Python environment. Every picture of a batch gets an answer of its
own: a picture that fails to decode yields ``{"error": reason}`` and never fails the rest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from ts.torch_handler.base_handler import BaseHandler

from shoplens import settings
from shoplens.imaging import ImageLimits, ImageRejected, decode_image

TOP_K = 3
LOW_CONFIDENCE_MARGIN = settings.LOW_CONFIDENCE_MARGIN.read()


def request_bytes(row: dict[str, Any]) -> bytes:
    """The picture in one TorchServe request row (raw body, or a form field)."""
    value = row.get("data") if row.get("data") is not None else row.get("body")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise ImageRejected("not_an_image", "the request carries no picture bytes")


def describe(probs: dict[str, torch.Tensor], tasks: dict[str, list[str]], margin: float) -> dict[str, Any]:
    """One picture's answer: top-k categories, the colour when predicted, a low-confidence flag."""
    category = probs["category"]
    top = torch.topk(category, min(TOP_K, len(category)))
    labels = [{"label": tasks["category"][int(i)], "probability": round(float(p), 4)}
              for p, i in zip(top.values, top.indices, strict=True)]
    second = float(top.values[1]) if len(top.values) > 1 else 0.0
    answer: dict[str, Any] = {"labels": labels, "category": labels[0]["label"],
                              "low_confidence": float(top.values[0]) - second < margin}
    if "colour" in probs:
        best = int(probs["colour"].argmax())
        answer["colour"] = {"label": tasks["colour"][best], "probability": round(float(probs["colour"][best]), 4)}
    return answer


class ShopLensHandler(BaseHandler):
    def initialize(self, context: Any) -> None:
        from training.models import load_bundle_model
        from training.presets import eval_preset

        model_dir = Path(context.system_properties.get("model_dir"))
        gpu = context.system_properties.get("gpu_id")
        self.device = torch.device(f"cuda:{gpu}" if torch.cuda.is_available() and gpu is not None else "cpu")
        self.model, self.info = load_bundle_model(model_dir)
        self.model.to(self.device)
        self.transform = eval_preset(self.info.preprocessing)
        self.limits = ImageLimits()
        self.initialized = True

    def preprocess(self, data: list[dict[str, Any]]) -> tuple[torch.Tensor | None, list[str | None]]:
        pictures, errors = [], []
        for row in data:
            try:
                pictures.append(self.transform(decode_image(request_bytes(row), self.limits)))
                errors.append(None)
            except ImageRejected as exc:
                errors.append(exc.reason)
        return (torch.stack(pictures) if pictures else None), errors

    def inference(self, batch: tuple[torch.Tensor | None, list[str | None]], *args: Any, **kwargs: Any) -> Any:
        pictures, errors = batch
        if pictures is None:
            return {}, errors
        with torch.inference_mode():
            outputs = self.model(pictures.to(self.device))
        return {task: logits.softmax(1).cpu() for task, logits in outputs.items()}, errors

    def postprocess(self, inference_output: Any) -> list[dict[str, Any]]:
        probs, errors = inference_output
        answers, index = [], 0
        for error in errors:
            if error is not None:
                answers.append({"error": error})
                continue
            answer = describe({task: p[index] for task, p in probs.items()}, self.info.tasks, LOW_CONFIDENCE_MARGIN)
            answers.append({**answer, "model": self.info.arch, "version": self.info.version})
            index += 1
        return answers
