"""GET /v1/models: a read-only view of the model's versions in TorchServe (changes go
through TorchServe's management API)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from serving.api.errors import APIError
from serving.api.inference import InferenceUnavailable
from serving.api.services import model, settings

blueprint = Blueprint("models", __name__, url_prefix="/v1")


@blueprint.get("/models")
def models():  # noqa: ANN201 (Flask view)
    try:
        described = model().versions()
        default = model().version()
    except InferenceUnavailable as exc:
        raise APIError(503, str(exc)) from None
    versions = [{"version": str(v.get("modelVersion")), "workers": len(v.get("workers", [])),
                 "batch_size": v.get("batchSize"), "max_batch_delay_ms": v.get("maxBatchDelay")} for v in described]
    return jsonify(model=settings().model_name, default_version=default, versions=versions)
