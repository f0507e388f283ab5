"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from serving.api.inference import InferenceUnavailable

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():  # noqa: ANN201 (Flask view)
    return jsonify(status="ok", cache="ok" if current_app.config["CACHE"].healthy() else "unavailable")


@blueprint.get("/readyz")
def readyz():  # noqa: ANN201
    try:
        version = current_app.config["INFERENCE"].version()
    except InferenceUnavailable as exc:
        return jsonify(status="unavailable", reason=str(exc)), 503
    return jsonify(status="ready", model=current_app.config["SETTINGS"].model_name, version=version)
