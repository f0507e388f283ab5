"""POST /v1/classify and /v1/classify/batch: what is in these product pictures?

A request's pictures go three steps: each is checked and looked up in the cache (by
content hash, or by URL while its URL -> hash entry lives); the misses go to the model
server together, so TorchServe's dynamic batching can group them; new answers are cached.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import redis
from flask import Blueprint, g, jsonify, request

from serving.api import metrics
from serving.api.errors import APIError
from serving.api.fetch import FetchPolicy, FetchRefused, fetch_picture
from serving.api.inference import InferenceUnavailable
from serving.api.services import cache, model, settings
from shoplens.imaging import ImageRejected, decode_image

blueprint = Blueprint("classify", __name__, url_prefix="/v1")


@dataclass
class Miss:
    """A usable picture the cache did not know."""

    digest: str
    picture: bytes
    url: str | None


def _sources() -> list[bytes | str]:
    """The request's pictures: uploaded bytes, or URLs still to fetch."""
    if request.files:
        return [file.read() for file in request.files.getlist("image") + request.files.getlist("images")]
    if request.mimetype.startswith("image/") or request.mimetype == "application/octet-stream":
        return [request.get_data()]
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise APIError(400, "JSON bodies carry {'url': ...} or {'urls': [...]}")
        urls = [body["url"]] if "url" in body else body.get("urls")
        if not isinstance(urls, list):
            raise APIError(400, "JSON bodies carry {'url': ...} or {'urls': [...]}")
        if not all(isinstance(url, str) for url in urls):
            raise APIError(400, "every URL must be a string")
        return urls
    raise APIError(415, "send the picture as multipart field 'image', a raw image/* body, or JSON {'url': ...}")


def _guarded(call: Any, *args: Any) -> Any:
    """Runs a cache call; Redis being down only costs the cache, and the response says so."""
    if getattr(g, "cache_state", "ok") != "ok":
        return None
    try:
        return call(*args)
    except redis.RedisError:
        g.cache_state = "unavailable"
        return None


def _fetch(url: str) -> bytes:
    policy = FetchPolicy(settings().max_picture_bytes, settings().fetch_timeout, settings().fetch_allow_hosts)
    try:
        return fetch_picture(url, policy)
    except FetchRefused as exc:
        raise APIError(400, f"cannot fetch the picture: {exc}") from None


def _checked(picture: bytes) -> str:
    """The picture's SHA-256 once it is known to decode within the limits (APIError if not)."""
    try:
        decode_image(picture)
    except ImageRejected as exc:
        raise APIError(422 if exc.reason != "too_large_file" else 413, f"not a usable picture: {exc}") from None
    return hashlib.sha256(picture).hexdigest()


def _lookup(source: bytes | str, version: str) -> dict[str, Any] | Miss:
    url = source if isinstance(source, str) else None
    if url is not None:
        known = _guarded(cache().digest_for_url, url)
        cached = known and _guarded(cache().get, known, version)
        if cached:
            return cached
    picture = _fetch(url) if url is not None else source
    digest = _checked(picture)
    return _guarded(cache().get, digest, version) or Miss(digest, picture, url)


def _store(miss: Miss, version: str, answer: dict[str, Any]) -> None:
    _guarded(cache().put, miss.digest, version, answer)
    if miss.url is not None:
        _guarded(cache().remember_url, miss.url, miss.digest)


def _answers(sources: list[bytes | str]) -> list[dict[str, Any] | APIError]:
    """One answer per source, in order; a picture's own problem is its APIError, a dead model server a 503."""
    try:
        version = model().version()
        results: list[Any] = []
        for source in sources:
            try:
                results.append(_lookup(source, version))
            except APIError as error:
                results.append(error)
        misses = {index: item for index, item in enumerate(results) if isinstance(item, Miss)}
        answers = model().classify_many([miss.picture for miss in misses.values()])
    except InferenceUnavailable as exc:
        raise APIError(503, str(exc)) from None
    for item in results:
        if isinstance(item, dict):
            item["cached"] = True
    for (index, miss), answer in zip(misses.items(), answers, strict=True):
        if "error" in answer:
            results[index] = APIError(422, f"not a usable picture: {answer['error']}")
        else:
            _store(miss, version, answer)
            results[index] = {**answer, "cached": False}
    metrics.count_pictures(results)
    return results


def _spend(count: int) -> None:
    limit, window = settings().rate_limit, settings().rate_window
    total = _guarded(cache().spend, request.headers.get("X-API-Key", "anonymous"), count, window)
    if total is not None and total > limit:
        raise APIError(429, f"rate limit of {limit} pictures per {window} s reached")


@blueprint.post("/classify")
def classify():  # noqa: ANN201 (Flask view)
    sources = _sources()
    if len(sources) != 1:
        raise APIError(400, "send exactly one picture (use /v1/classify/batch for more)")
    _spend(1)
    (answer,) = _answers(sources)
    if isinstance(answer, APIError):
        raise answer
    return jsonify(answer)


@blueprint.post("/classify/batch")
def classify_batch():  # noqa: ANN201
    sources = _sources()
    limit = settings().max_batch
    if not sources or len(sources) > limit:
        raise APIError(400, f"send 1 to {limit} pictures (multipart fields 'images' or JSON 'urls')")
    _spend(len(sources))
    results = [{"error": item.reason, "status": item.status} if isinstance(item, APIError) else item
               for item in _answers(sources)]
    return jsonify(results=results)


@blueprint.after_app_request
def response_headers(response: Any) -> Any:
    response.headers["X-ShopLens-Cache"] = getattr(g, "cache_state", "ok")
    return response
