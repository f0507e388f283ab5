"""POST /v1/classify and /v1/classify/batch: what is in these product pictures?"""

from __future__ import annotations

import hashlib
from typing import Any

import redis
from flask import Blueprint, current_app, g, jsonify, request

from serving.api.errors import APIError
from serving.api.fetch import FetchPolicy, FetchRefused, fetch_picture
from serving.api.inference import InferenceUnavailable
from shoplens.imaging import ImageRejected, decode_image

blueprint = Blueprint("classify", __name__, url_prefix="/v1")


@blueprint.before_request
def require_api_key() -> None:
    keys = current_app.config["SETTINGS"].api_keys
    if request.method != "OPTIONS" and keys and request.headers.get("X-API-Key") not in keys:
        raise APIError(401, "missing or unknown API key (header X-API-Key)")


def _fetch(url: object) -> bytes:
    settings = current_app.config["SETTINGS"]
    if not isinstance(url, str):
        raise APIError(400, "'url' must be a string")
    policy = FetchPolicy(settings.max_upload_bytes, settings.fetch_timeout, settings.fetch_allow_hosts)
    try:
        return fetch_picture(url, policy)
    except FetchRefused as exc:
        raise APIError(400, f"cannot fetch the picture: {exc}") from None


def _pictures() -> list[bytes]:
    if request.files:
        return [file.read() for file in request.files.getlist("image") + request.files.getlist("images")]
    if request.mimetype.startswith("image/") or request.mimetype == "application/octet-stream":
        return [request.get_data()]
    if request.is_json:
        body = request.get_json(silent=True)
        if isinstance(body, dict) and "url" in body:
            return [_fetch(body["url"])]
        if isinstance(body, dict) and isinstance(body.get("urls"), list):
            return [_fetch(url) for url in body["urls"][: current_app.config["SETTINGS"].max_batch + 1]]
        raise APIError(400, "JSON bodies carry {'url': ...} or {'urls': [...]}")
    raise APIError(415, "send the picture as multipart field 'image', a raw image/* body, or JSON {'url': ...}")


def _checked(picture: bytes) -> str:
    """The picture's SHA-256 once it is known to decode within the limits (APIError if not)."""
    try:
        decode_image(picture)
    except ImageRejected as exc:
        raise APIError(422 if exc.reason != "too_large_file" else 413, f"not a usable picture: {exc}") from None
    return hashlib.sha256(picture).hexdigest()


def _answer(picture: bytes) -> dict[str, Any]:
    digest = _checked(picture)
    client, cache = current_app.config["INFERENCE"], current_app.config["CACHE"]
    try:
        version = client.version()
    except InferenceUnavailable as exc:
        raise APIError(503, str(exc)) from None
    try:
        cached = cache.get(digest, version)
    except redis.RedisError:
        cached, g.cache_state = None, "unavailable"
    if cached is not None:
        return {**cached, "cached": True}
    try:
        answer = client.classify(picture)
    except InferenceUnavailable as exc:
        raise APIError(503, str(exc)) from None
    if "error" in answer:
        raise APIError(422, f"not a usable picture: {answer['error']}")
    if getattr(g, "cache_state", "ok") == "ok":
        try:
            cache.put(digest, version, answer)
        except redis.RedisError:
            g.cache_state = "unavailable"
    return {**answer, "cached": False}


def _spend(count: int) -> None:
    settings = current_app.config["SETTINGS"]
    try:
        total = current_app.config["CACHE"].spend(request.headers.get("X-API-Key", "anonymous"), count,
                                                  settings.rate_window)
    except redis.RedisError:
        g.cache_state = "unavailable"
        return
    if total > settings.rate_limit:
        raise APIError(429, f"rate limit of {settings.rate_limit} pictures per {settings.rate_window} s reached")


@blueprint.post("/classify")
def classify():  # noqa: ANN201 (Flask view)
    pictures = _pictures()
    _spend(len(pictures))
    if len(pictures) != 1:
        raise APIError(400, "send exactly one picture (use /v1/classify/batch for more)")
    return jsonify(_answer(pictures[0]))


@blueprint.post("/classify/batch")
def classify_batch():  # noqa: ANN201
    pictures = _pictures()
    limit = current_app.config["SETTINGS"].max_batch
    if not pictures or len(pictures) > limit:
        raise APIError(400, f"send 1 to {limit} pictures as multipart fields 'images'")
    _spend(len(pictures))
    results = []
    for picture in pictures:
        try:
            results.append(_answer(picture))
        except APIError as error:
            if error.status == 503:
                raise
            results.append({"error": error.reason})
    return jsonify(results=results)


@blueprint.get("/models")
def models():  # noqa: ANN201
    """Read-only view of the model's versions (changes go through TorchServe's management API)."""
    client = current_app.config["INFERENCE"]
    try:
        described = client.versions()
        default = client.version()
    except InferenceUnavailable as exc:
        raise APIError(503, str(exc)) from None
    versions = [{"version": str(v.get("modelVersion")), "workers": len(v.get("workers", [])),
                 "batch_size": v.get("batchSize"), "max_batch_delay_ms": v.get("maxBatchDelay")} for v in described]
    return jsonify(model=current_app.config["SETTINGS"].model_name, default_version=default, versions=versions)


@blueprint.after_app_request
def response_headers(response: Any) -> Any:
    response.headers["X-ShopLens-Cache"] = getattr(g, "cache_state", "ok")
    origin = request.headers.get("Origin")
    if origin and origin in current_app.config["SETTINGS"].cors_origins:
        # only the configured extension origins may read answers from a page's context
        response.headers.update({"Access-Control-Allow-Origin": origin, "Vary": "Origin",
                                 "Access-Control-Allow-Headers": "Content-Type, X-API-Key",
                                 "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                                 "Access-Control-Max-Age": "600"})
    return response
