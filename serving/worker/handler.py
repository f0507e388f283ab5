"""TorchServe handler for ShopLens model archives: preprocess / inference / postprocess.

The ``.mar`` carries the bundle (``bundle.json``, the exported models, ``weights.pt``) and
its ``model-config.yaml``, whose ``handler`` section picks the runtime and the
low-confidence margin (``serving.operations.archive``). The worker runs the bundle's exported model on
"onnx", "openvino" (the ONNX file) or "torchscript", with ONNX Runtime, OpenVINO or torch alone and the
ground package ``shoplens``: it never
rebuilds a network (``serving.operations.archive`` exports a bundle that keeps only its weights, such as the
starter). Every picture of a batch
gets an answer of its own: a picture that fails to decode yields ``{"error": reason}``
and never fails the rest. Decoding, preprocessing and the answer are ``shoplens.classifier``'s,
shared with the Spark batch job.

A request with the header ``X-ShopLens-Embedding: true`` also gets the picture's
L2-normalised descriptors, the exported model's "embedding" and "copy_embedding" outputs
(visual search and finding altered copies, ``serving.index``).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ts.torch_handler.base_handler import BaseHandler

from shoplens import ShopLensError
from shoplens.bundle import EXPORTED_RUNTIMES, BundleInfo, ServingSettings, read_bundle
from shoplens.classifier import PictureClassifier, Prepared
from shoplens.colour import NAMES as COLOUR_NAMES
from shoplens.exported import Predict, load_predictor
from shoplens.imaging import ImageRejected

EMBEDDING_HEADER = "x-shoplens-embedding"  # TorchServe 0.12 passes headers, not query parameters, to handlers
TRUE = {"true", "1", "yes"}

log = logging.getLogger(__name__)


def request_bytes(row: dict[str, Any]) -> bytes:
    """The picture in one TorchServe request row (raw body, or a form field)."""
    value = row.get("data") if row.get("data") is not None else row.get("body")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise ImageRejected("not_an_image", "the request carries no picture bytes")


def wants_embedding(headers: dict[str, Any]) -> bool:
    """Whether a request's headers ask for the embedding (names in any case, values bytes or text)."""
    for name, value in headers.items():
        if isinstance(value, (bytes, bytearray)):
            value = value.decode("utf-8", "replace")
        if str(name).lower() == EMBEDDING_HEADER and str(value).strip().lower() in TRUE:
            return True
    return False


def request_picture(row: dict[str, Any]) -> bytes | ImageRejected:
    try:
        return request_bytes(row)
    except ImageRejected as exc:
        return exc


def exported_predictor(model_dir: Path, info: BundleInfo, runtime: str, threads: int) -> Predict:
    """The archive's exported model on `runtime`; a clear refusal for a runtime this worker cannot run."""
    if runtime not in EXPORTED_RUNTIMES:
        raise ShopLensError(f"the TorchServe worker runs exported models ({', '.join(EXPORTED_RUNTIMES)}), "
                            f"not {runtime!r}: archive the bundle again with `shoplens-serve archive`, which "
                            "exports it")
    return load_predictor(model_dir, info, runtime, threads)


def archive_settings(info: BundleInfo, model_yaml_config: dict[str, Any]) -> ServingSettings:
    """The bundle's serving settings as the archive's model-config.yaml overrides them."""
    return dataclasses.replace(info.serving, **(model_yaml_config or {}).get("handler", {}))


class ShopLensHandler(BaseHandler):
    def initialize(self, context: Any) -> None:
        model_dir = Path(context.system_properties.get("model_dir"))
        self.info, _ = read_bundle(model_dir)
        self.settings = archive_settings(self.info, getattr(context, "model_yaml_config", {}))
        torch.set_num_threads(self.settings.threads)  # every runtime gets the same threads
        predict = exported_predictor(model_dir, self.info, self.settings.runtime, self.settings.threads)
        self.classifier = PictureClassifier(self.info, predict, self.settings.low_confidence_margin)
        self.initialized = True
        log.info("ShopLens %s %s on the %s runtime, %d threads", self.info.arch, self.info.version,
                 self.settings.runtime, self.settings.threads)

    def preprocess(self, data: list[dict[str, Any]]) -> Prepared:
        # run in-process (benchmarks, the batch job's tests) there is no TorchServe request context
        processors = getattr(self.context, "request_processor", None) or []
        self.embedding_asked = [index < len(processors) and wants_embedding(processors[index].get_request_properties())
                                for index in range(len(data))]
        return self.classifier.prepare([request_picture(row) for row in data])

    def inference(self, prepared: Prepared, *args: Any, **kwargs: Any) -> tuple[Prepared, dict[str, np.ndarray]]:
        return prepared, self.classifier.predict(prepared)

    def postprocess(self, inference_output: tuple[Prepared, dict[str, np.ndarray]]) -> list[dict[str, Any]]:
        return self.classifier.answers(*inference_output, with_embedding=self.embedding_asked)

    def describe_handle(self) -> dict[str, Any]:
        """The model's vocabulary, for TorchServe's ``GET /models/NAME/VERSION?customized=true``: the API
        checks shoppers' corrections against it and the extension offers it."""
        # without a colour head the answer names colours from the pixels: those names are the vocabulary
        return {"categories": self.info.tasks["category"], "colours": self.info.tasks.get("colour", list(COLOUR_NAMES)),
                "version": self.info.version}
