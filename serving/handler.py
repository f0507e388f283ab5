"""TorchServe handler for ShopLens model archives: preprocess / inference / postprocess.

The ``.mar`` carries the bundle (``bundle.json``, the exported models, ``weights.pt``) and
its ``model-config.yaml``, whose ``handler`` section picks the runtime and the
low-confidence margin (``serving.archive``). With the "onnx" or "torchscript" runtime the
worker needs only TorchServe, torch or onnxruntime, and the ground package ``shoplens``;
the training package is imported for the "eager" runtime alone. Every picture of a batch
gets an answer of its own: a picture that fails to decode yields ``{"error": reason}``
and never fails the rest.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ts.torch_handler.base_handler import BaseHandler

from shoplens.answer import describe
from shoplens.bundle import BundleInfo, ServingSettings, read_bundle
from shoplens.exported import Predict, load_predictor
from shoplens.imaging import ImageLimits, ImageRejected, decode_image
from shoplens.preprocessing import eval_pixels

log = logging.getLogger(__name__)


def request_bytes(row: dict[str, Any]) -> bytes:
    """The picture in one TorchServe request row (raw body, or a form field)."""
    value = row.get("data") if row.get("data") is not None else row.get("body")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise ImageRejected("not_an_image", "the request carries no picture bytes")


def eager_predictor(model_dir: Path) -> Predict:
    """The network rebuilt from weights.pt: needs the training package (and timm for efficientnet)."""
    from training.export import eager_outputs
    from training.models import load_bundle_model

    net, _ = load_bundle_model(model_dir)
    return lambda pixels: eager_outputs(net, pixels)


def archive_settings(info: BundleInfo, model_yaml_config: dict[str, Any]) -> ServingSettings:
    """The bundle's serving settings as the archive's model-config.yaml overrides them."""
    return dataclasses.replace(info.serving, **(model_yaml_config or {}).get("handler", {}))


class ShopLensHandler(BaseHandler):
    def initialize(self, context: Any) -> None:
        model_dir = Path(context.system_properties.get("model_dir"))
        self.info, _ = read_bundle(model_dir)
        self.settings = archive_settings(self.info, getattr(context, "model_yaml_config", {}))
        torch.set_num_threads(self.settings.threads)  # every runtime gets the same threads
        if self.settings.runtime == "eager":
            self.predict = eager_predictor(model_dir)
        else:
            self.predict = load_predictor(model_dir, self.info, self.settings.runtime, self.settings.threads)
        self.limits = ImageLimits()
        self.initialized = True
        log.info("ShopLens %s %s on the %s runtime, %d threads", self.info.arch, self.info.version,
                 self.settings.runtime, self.settings.threads)

    def preprocess(self, data: list[dict[str, Any]]) -> tuple[np.ndarray | None, list[str | None]]:
        pictures, errors, self.images = [], [], []  # the decoded pictures, for colour from pixels
        for row in data:
            try:
                image = decode_image(request_bytes(row), self.limits)
                pictures.append(eval_pixels(image, self.info.preprocessing))
                self.images.append(image)
                errors.append(None)
            except ImageRejected as exc:
                errors.append(exc.reason)
        return (np.stack(pictures) if pictures else None), errors

    def inference(self, batch: tuple[np.ndarray | None, list[str | None]], *args: Any, **kwargs: Any) -> Any:
        pictures, errors = batch
        return ({} if pictures is None else self.predict(pictures)), errors

    def postprocess(self, inference_output: Any) -> list[dict[str, Any]]:
        outputs, errors = inference_output
        answers, index = [], 0
        for error in errors:
            if error is not None:
                answers.append({"error": error})
                continue
            answer = describe({task: out[index] for task, out in outputs.items()}, self.info, self.images[index],
                              self.settings.low_confidence_margin)
            answers.append({**answer, "model": self.info.arch, "version": self.info.version})
            index += 1
        return answers
