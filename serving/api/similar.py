"""POST /v1/similar: the catalogue's products that look like this picture ("more like this").

The picture comes as for /v1/classify (multipart field ``image``, a raw image body, or
JSON ``{"url": ...}`` through the same address guard and size limits); the query string
carries ``k`` (1 to 50, default 10) and the optional filters ``category``, ``colour``
and ``shop``. TorchServe answers the picture's labels, embedding and copy descriptor in one
call; the catalogue index (``serving.index``) lists first the products of which the picture is
an altered copy, marked ``"match": "copy"`` (the nearest candidates by copy similarity whose
keypoints, found here in the API worker, agree with the picture's in at least the index's
calibrated number of ``inliers``; or, for an index without keypoints, copy similarity at or
above its calibrated threshold), then ranks the others (``"match": "similar"``): by similarity
with the query expanded (``rank=similarity``, the default), or with ``rank=category`` by
similarity plus the picture's own category probabilities (``serving.index.ranking``'s ranking:
more products of the picture's category). An uncached
answer says how long each part took in a ``Server-Timing`` header (``model``: TorchServe's
labels and embedding; ``keypoints``: the query's, found here on a thread of the worker while
TorchServe answers, so the two overlap; ``copies``: finding and verifying copies; ``search``: the
similarity ranking). Answers are cached in Redis
under (picture SHA-256, model version, index version, filters, k, rank). Without a usable
index, or with an index built by another model version than the one served, the answer
is 503 with the reason: an index is only ever queried with its own model's vectors.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from flask import Blueprint, g, jsonify, request
from PIL import Image

from serving.api.classify import checked_image, fetch, guarded, model_input
from serving.api.errors import APIError
from serving.api.inference import InferenceUnavailable
from serving.api.inputs import request_pictures
from serving.api.services import cache, catalogue, default_version, model
from serving.index.local import LocalFeatures, query_features
from serving.index.ranking import CatalogueIndex, Filters, Hit, category_prior
from shoplens import settings as declared
from shoplens.exported import COPY_EMBEDDING

blueprint = Blueprint("similar", __name__, url_prefix="/v1")

MAX_K = 50
DEFAULT_K = 10
QUERY_FIELDS = ("labels", "category", "colour", "low_confidence")
RANKINGS = ("similarity", "category")


def _options() -> tuple[int, Filters, str]:
    text = request.args.get("k", str(DEFAULT_K))
    if not text.isdigit() or not 1 <= int(text) <= MAX_K:
        raise APIError(400, f"k must be a whole number from 1 to {MAX_K}, not {text!r}")
    rank = request.args.get("rank", RANKINGS[0])
    if rank not in RANKINGS:
        raise APIError(400, f"rank must be one of {', '.join(RANKINGS)}, not {rank!r}")
    filters = {name: request.args.get(name, "").strip() or None for name in ("category", "colour", "shop")}
    return int(text), Filters(**filters), rank


def _picture() -> bytes:
    items = request_pictures()
    if len(items) != 1:
        raise APIError(400, "send exactly one picture")
    (item,) = items
    if isinstance(item, APIError):
        raise item
    return fetch(item) if isinstance(item, str) else item


def _index_for(model_version: str | None) -> CatalogueIndex:
    index, problem = catalogue().current()
    if index is None:
        raise APIError(503, f"visual search unavailable: {problem}")
    if model_version is not None and index.model_version != model_version:
        raise APIError(503, f"visual search unavailable: the catalogue index {index.version} was built with model "
                            f"version {index.model_version}, the model serves {model_version}; rebuild the index")
    return index


_keypoint_pools: dict[int, ThreadPoolExecutor] = {}  # process id -> its pool: no thread survives a fork
_pools_lock = threading.Lock()


def _keypoint_pool() -> ThreadPoolExecutor:
    """This worker process's threads for queries' keypoints, one per request thread, so none waits on another's."""
    with _pools_lock:
        pid = os.getpid()
        if pid not in _keypoint_pools:
            _keypoint_pools[pid] = ThreadPoolExecutor(declared.THREADS.read(), thread_name_prefix="keypoints")
        return _keypoint_pools[pid]


def _timed_query_features(image: Image.Image) -> tuple[tuple[LocalFeatures, LocalFeatures] | None, float]:
    began = time.perf_counter()
    return query_features(image), time.perf_counter() - began


def _keypoints_meanwhile(image: Image.Image, index: CatalogueIndex
                         ) -> Future[tuple[tuple[LocalFeatures, LocalFeatures] | None, float]] | None:
    """The query's keypoints, begun now for an index that verifies copies (ORB releases the GIL, so they are
    found while TorchServe answers; both only read the decoded `image`); None where the index has no keypoints to
    verify against."""
    if index.copies is None or not index.copies.verifiable:
        return None
    return _keypoint_pool().submit(_timed_query_features, image)


def _embedded(picture: bytes, image: Image.Image, version: str | None) -> dict[str, Any]:
    try:
        answer = model().embed(model_input(picture, image), version)
    except InferenceUnavailable as exc:
        raise APIError(503, str(exc)) from None
    if "error" in answer:
        raise APIError(422, f"not a usable picture: {answer['error']}")
    if not answer.get("embedding"):
        raise APIError(503, "visual search unavailable: the served model has no embedding output; export it again")
    return answer


def _result(hit: Hit) -> dict[str, Any]:
    item = hit.item
    return {"page_url": item["page_url"], "picture_url": item["picture_url"], "shop": item["shop"],
            "category": item["category"], "colour": item["colour"], "width": item["width"],
            "height": item["height"], "similarity": round(hit.similarity, 4), "score": round(hit.score, 4),
            "match": hit.match, "inliers": hit.inliers}


@blueprint.post("/similar")
def similar():  # noqa: ANN201 (Flask view)
    k, filters, rank = _options()
    picture = _picture()
    version = default_version().current()
    if not version.live:
        g.model_state = "unavailable"
        raise APIError(503, version.reason)
    index = _index_for(version.name)
    digest = hashlib.sha256(picture).hexdigest()
    scope = f"similar:{version.name}:{index.version}:{k}:{rank}:" + ",".join(
        f"{n}={v}" for n, v in filters.active().items())
    cached = guarded(cache().get, digest, scope)
    if cached:
        return jsonify({**cached, "cached": True})
    began = time.perf_counter()
    image = checked_image(picture)
    keypoints = _keypoints_meanwhile(image, index)
    answer = _embedded(picture, image, version.name)
    embedded = time.perf_counter()
    index = _index_for(answer.get("version"))  # the version that made this embedding, not the one asked first
    prior = category_prior(answer.get("labels")) if rank == "category" else None
    copy_query = np.asarray(answer[COPY_EMBEDDING], dtype=np.float32) if answer.get(COPY_EMBEDDING) else None
    local_query, keypoint_seconds = keypoints.result() if keypoints else (None, 0.0)  # None: too small to verify
    if copy_query is None or index.copies is None or not index.copies.verifiable:
        local_query = None  # the index answering now (after a swap) or this answer cannot use them
    seconds: dict[str, float] = {}
    hits = index.search(np.asarray(answer["embedding"], dtype=np.float32), k, filters, prior, copy_query, local_query,
                        seconds=seconds)
    body = {"query": {name: answer[name] for name in QUERY_FIELDS if name in answer},
            "model_version": answer.get("version"), "index_version": index.version,
            "results": [_result(hit) for hit in hits]}
    guarded(cache().put, digest, scope, body)
    response = jsonify({**body, "cached": False})
    parts = {"model": embedded - began, "keypoints": keypoint_seconds, **seconds}
    response.headers["Server-Timing"] = ", ".join(f"{name};dur={1000 * value:.2f}" for name, value in parts.items())
    return response
