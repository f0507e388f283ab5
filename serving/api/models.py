"""GET /v1/models: a read-only view of the model's versions in TorchServe (changes go
through TorchServe's management API); GET /v1/vocabulary: the labels of the default version,
which corrections must come from."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from serving.api.errors import APIError
from serving.api.inference import InferenceUnavailable
from serving.api.services import default_version, model, settings

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


def vocabulary() -> dict[str, Any]:
    """The served default version's labels, with that version: 503 while TorchServe cannot say."""
    version = default_version().current()
    if not version.live or version.name is None:
        raise APIError(503, f"the model's vocabulary is unavailable: {version.reason}")
    try:
        return {"version": version.name, **model().vocabulary(version.name)}
    except InferenceUnavailable as exc:
        raise APIError(503, f"the model's vocabulary is unavailable: {exc}") from None


@blueprint.get("/vocabulary")
def vocabulary_view():  # noqa: ANN201 (Flask view)
    labels = vocabulary()
    return jsonify(model=settings().model_name, version=labels["version"], categories=labels["categories"],
                   colours=labels["colours"])
