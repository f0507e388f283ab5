"""POST /v1/classify and /v1/classify/batch: what is in these product pictures?

Each picture goes: hashed (SHA-256 of its bytes; a URL is first looked up by URL, and
fetched only when that misses), looked up in the cache under the model's default
version, and only on a miss decoded, checked and shrunk to at most SHOPLENS_SEND_MAX_SIDE
pixels a side: a cache hit costs no decoding, and TorchServe gets a small picture. The
misses go to TorchServe together, so its dynamic batching can group them; new answers
are cached, and an uncertain new answer is handed, with its picture, to the review queue's
recorder (serving/api/corrections.py: a bounded hand-off, written by a thread of its own,
so classify never waits on the database).

While TorchServe is down, answers cached for the last default version it gave are still
served, with ``X-ShopLens-Model: unavailable``; the pictures it would have to answer get
503. In a batch every picture has its own answer or error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import redis
from flask import Blueprint, g, jsonify, request
from PIL import Image

from serving.api import metrics
from serving.api.corrections import model_answer, needs_review
from serving.api.errors import APIError
from serving.api.fetch import FetchesBusy, FetchPolicy, FetchRefused, FetchSlots, fetch_picture
from serving.api.inference import InferenceUnavailable
from serving.api.inputs import Item, request_pictures
from serving.api.services import cache, corrections, default_version, model, settings
from serving.api.versions import Version
from shoplens.imaging import ImageLimits, ImageRejected, decode_image, jpeg_bytes

blueprint = Blueprint("classify", __name__, url_prefix="/v1")
_fetches = FetchSlots()  # this worker process's URL fetches in flight, per API key

SEND_QUALITY = 95  # a re-encoded picture's JPEG quality: its artefacts stay far below what the model sees
SEND_AS_IS_BYTES = 1024 * 1024  # a small picture in more bytes than this (metadata, odd encodings) is re-encoded


@dataclass
class Miss:
    """A picture the cache did not know."""

    digest: str
    picture: bytes
    url: str | None


def guarded(call: Any, *args: Any) -> Any:
    """Runs a cache call; Redis being down only costs the cache, and the response says so."""
    if getattr(g, "cache_state", "ok") != "ok":
        return None
    try:
        return call(*args)
    except redis.RedisError:
        g.cache_state = "unavailable"
        return None


def fetch(url: str) -> bytes:
    policy = FetchPolicy(settings().max_upload_bytes, settings().fetch_timeout, settings().fetch_allow_hosts)
    try:
        with _fetches.taken(request.headers.get("X-API-Key", "anonymous"), settings().fetch_per_key):
            return fetch_picture(url, policy)
    except FetchRefused as exc:
        raise APIError(400, f"cannot fetch the picture: {exc}") from None
    except FetchesBusy as exc:
        raise APIError(429, f"{exc}; send it again once one has finished") from None
    except (ValueError, UnicodeError) as exc:  # a malformed redirect target
        raise APIError(400, f"cannot fetch the picture: malformed URL on the way ({exc})") from None


def _cached(digest: str | None, version: str | None) -> dict[str, Any] | None:
    return guarded(cache().get, digest, version) if digest and version else None


def _lookup(source: bytes | str, version: str | None) -> dict[str, Any] | Miss:
    """The cached answer for a picture or URL, or the Miss to send to the model."""
    url = source if isinstance(source, str) else None
    if url is not None and version:
        cached = _cached(guarded(cache().digest_for_url, url), version)
        if cached:
            return cached
    picture = fetch(url) if url is not None else source
    digest = hashlib.sha256(picture).hexdigest()
    cached = _cached(digest, version)
    if cached and url is not None:
        guarded(cache().remember_url, url, digest)
    return cached or Miss(digest, picture, url)


def checked_image(picture: bytes) -> Image.Image:
    """The picture decoded within the API's limits; 413 or 422 with the reason when it is not usable."""
    try:
        return decode_image(picture, ImageLimits(max_bytes=settings().max_upload_bytes))
    except ImageRejected as exc:
        raise APIError(413 if exc.reason == "too_large_file" else 422, f"not a usable picture: {exc}") from None


def model_input(picture: bytes, image: Image.Image | None = None) -> bytes:
    """The picture as TorchServe gets it: checked (`image`: already decoded by ``checked_image``), and shrunk
    (JPEG) when a side is over SHOPLENS_SEND_MAX_SIDE or its file is large."""
    image = checked_image(picture) if image is None else image
    side = settings().send_max_side
    if max(image.size) <= side and len(picture) <= SEND_AS_IS_BYTES:
        return picture
    shrunk = image.copy()  # the caller may use `image` again
    shrunk.thumbnail((side, side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return jpeg_bytes(shrunk, SEND_QUALITY)


def _attempt(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except APIError as error:
        return error


def _classified(misses: dict[int, Miss], version: Version) -> dict[int, dict[str, Any] | APIError]:
    """TorchServe's answers for the misses (by position), or each one's error."""
    if not version.live:
        return {index: APIError(503, version.reason) for index in misses}
    inputs = {index: _attempt(model_input, miss.picture) for index, miss in misses.items()}
    sendable = {index: item for index, item in inputs.items() if isinstance(item, bytes)}
    try:
        answers = dict(zip(sendable, model().classify_many(list(sendable.values()), version.name), strict=True))
    except InferenceUnavailable as exc:
        answers = dict.fromkeys(sendable, APIError(503, str(exc)))
    results: dict[int, dict[str, Any] | APIError] = {**inputs, **answers}
    for index, answer in answers.items():
        if isinstance(answer, dict) and "error" in answer:
            results[index] = APIError(422, f"not a usable picture: {answer['error']}")
        elif isinstance(answer, dict):
            _store(misses[index], version.name or answer.get("version", ""), answer)
            _offer_for_review(misses[index], answer)
            results[index] = {**answer, "cached": False}
    return results


def _store(miss: Miss, version: str, answer: dict[str, Any]) -> None:
    guarded(cache().put, miss.digest, version, answer)
    if miss.url is not None:
        guarded(cache().remember_url, miss.url, miss.digest)


def _offer_for_review(miss: Miss, answer: dict[str, Any]) -> None:
    if needs_review(answer, settings().review_confidence):
        corrections().offer_uncertain(miss.picture, miss.url, model_answer(answer))


def _answers(items: list[Item]) -> list[dict[str, Any] | APIError]:
    """One answer per item, in order: a cached or new answer, or that picture's APIError."""
    with model().one_budget():  # the version lookup and the classification share one timeout
        version = default_version().current()
        if not version.live:
            g.model_state = "unavailable"
        results = [item if isinstance(item, APIError) else _attempt(_lookup, item, version.name) for item in items]
        for item in results:
            if isinstance(item, dict):
                item["cached"] = True
        misses = {index: item for index, item in enumerate(results) if isinstance(item, Miss)}
        for index, result in _classified(misses, version).items():
            results[index] = result
    metrics.count_pictures(results)
    return results


@blueprint.post("/classify")
def classify():  # noqa: ANN201 (Flask view)
    items = request_pictures()
    if len(items) != 1:
        raise APIError(400, "send exactly one picture (use /v1/classify/batch for more)")
    (answer,) = _answers(items)
    if isinstance(answer, APIError):
        raise answer
    return jsonify(answer)


@blueprint.post("/classify/batch")
def classify_batch():  # noqa: ANN201
    answers = _answers(request_pictures())  # 1 to SHOPLENS_MAX_BATCH of them
    if all(isinstance(item, APIError) and item.status == 503 for item in answers):
        raise answers[0]  # nothing could be answered: the model server is out, say so once
    return jsonify(results=[{"error": item.reason, "status": item.status} if isinstance(item, APIError) else item
                            for item in answers])


@blueprint.after_app_request
def response_headers(response: Any) -> Any:
    response.headers["X-ShopLens-Cache"] = getattr(g, "cache_state", "ok")
    if "model_state" in g:
        response.headers["X-ShopLens-Model"] = g.model_state
    return response
