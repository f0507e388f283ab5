"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, jsonify

from serving.api.inference import InferenceUnavailable
from serving.api.services import cache, model, settings

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():  # noqa: ANN201 (Flask view)
    return jsonify(status="ok", cache="ok" if cache().healthy() else "unavailable")


@blueprint.get("/readyz")
def readyz():  # noqa: ANN201
    try:
        version = model().version()
    except InferenceUnavailable as exc:
        return jsonify(status="unavailable", reason=str(exc)), 503
    return jsonify(status="ready", model=settings().model_name, version=version)
