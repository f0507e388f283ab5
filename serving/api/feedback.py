"""POST /v1/feedback: a shopper says a label is wrong.

The JSON body (openapi.json's FeedbackRequest) names the picture by URL (fetched through
the same address guard, size cap, deadline and per-key fetch slots as /v1/classify) or by
the SHA-1 of a picture the API keeps already; the answer the shopper saw (category, colour,
model version); the corrected labels, from the served model's vocabulary (GET
/v1/vocabulary), or ``"garment": false``; the page and the time. Everything is checked
before anything is written: a bad request is a 4xx with its reason and leaves no row and no
picture behind. A good one keeps the picture's bytes once (by SHA-1), stores the correction
and queues it for review.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from serving.api.classify import fetch, guarded
from serving.api.corrections import CorrectionsUnavailable, model_answer
from serving.api.errors import APIError
from serving.api.inputs import is_unicode_text, json_object, web_url
from serving.api.models import vocabulary
from serving.api.services import cache, corrections, settings
from shoplens.corrections.store import Answer, BudgetSpent, Correction, CorrectionsStore
from shoplens.imaging import ImageRejected

blueprint = Blueprint("feedback", __name__, url_prefix="/v1")

SHA1 = re.compile(r"[0-9a-f]{40}")
MAX_LABEL = 64
FIELDS = {"picture", "page_url", "predicted", "corrected", "reported_at"}


def open_store() -> CorrectionsStore:
    try:
        return corrections().store()
    except CorrectionsUnavailable as exc:
        raise APIError(503, str(exc)) from None


def _object(body: dict[str, Any], name: str, allowed: set[str]) -> dict[str, Any]:
    value = body.get(name)
    if not isinstance(value, dict):
        raise APIError(400, f"'{name}' must be a JSON object")
    unknown = set(value) - allowed
    if unknown:
        raise APIError(400, f"'{name}' has unknown fields: {', '.join(sorted(unknown))}")
    return value


def _text(value: Any, name: str, *, required: bool = False, limit: int = MAX_LABEL) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise APIError(400, f"'{name}' must be a non-empty string of at most {limit} characters")
    if not value.isprintable() or not is_unicode_text(value):
        raise APIError(400, f"'{name}' must be printable Unicode text (no control characters, no lone surrogates)")
    return value.strip()


def checked_labels(fields: dict[str, Any], where: str, labels: dict[str, Any]) -> Correction:
    """A correction's labels (category, colour, garment) checked against the model's vocabulary."""
    garment = fields.get("garment", True)
    if not isinstance(garment, bool):
        raise APIError(400, f"'{where}.garment' must be true or false")
    category = _text(fields.get("category"), f"{where}.category")
    colour = _text(fields.get("colour"), f"{where}.colour")
    if not garment:
        if category or colour:
            raise APIError(400, f"'{where}': a picture that shows no garment has no category or colour")
        return Correction(None, None, garment=False)
    if category is None:
        raise APIError(400, f"'{where}.category' is required (or 'garment': false)")
    if category not in labels["categories"]:
        raise APIError(422, f"unknown category {category!r}: model version {labels['version']} knows "
                            f"{', '.join(labels['categories'])}")
    if colour is not None and colour not in labels["colours"]:
        known = ", ".join(labels["colours"]) or "no colours"
        raise APIError(422, f"unknown colour {colour!r}: model version {labels['version']} knows {known}")
    return Correction(category, colour)


def _reported_at(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise APIError(400, "'reported_at' must be an RFC 3339 date-time with a time zone")
    return moment


def _picture(fields: dict[str, Any], store: CorrectionsStore) -> tuple[str, str | None, bytes]:
    """(SHA-1, URL, bytes) of the picture: looked up by hash, or fetched, checked and kept."""
    if len(fields) != 1:
        raise APIError(400, "'picture' carries exactly one of 'url' or 'sha1'")
    if "sha1" in fields:
        sha1 = fields["sha1"]
        if not isinstance(sha1, str) or not SHA1.fullmatch(sha1):
            raise APIError(400, "'picture.sha1' must be 40 lower-case hex digits")
        location = store.picture_location(sha1)
        if location is None:
            raise APIError(422, f"no picture is kept with SHA-1 {sha1}; send its 'url' instead")
        return sha1, None, Path(location).read_bytes()
    url = web_url(fields["url"], "picture.url")
    picture = fetch(url)
    try:
        return store.keep_picture(picture, url, corrections().limits), url, picture
    except ImageRejected as exc:
        raise APIError(413 if exc.reason == "too_large_file" else 422, f"not a usable picture: {exc}") from None


def _as_answered(seen: Answer, picture: bytes) -> Answer:
    """The answer the shopper saw, with its probabilities when the answer cache still holds it (one
    Redis read): a correction of an uncertain answer ranks as uncertain too."""
    cached = guarded(cache().get, hashlib.sha256(picture).hexdigest(), seen.model_version)
    if not cached or cached.get("category") != seen.category:
        return seen
    return replace(model_answer(cached, seen.model_version), colour=seen.colour)


@blueprint.post("/feedback")
def feedback():  # noqa: ANN201 (Flask view)
    body = json_object()
    unknown = set(body) - FIELDS
    if unknown:
        raise APIError(400, f"unknown fields: {', '.join(sorted(unknown))}")
    picture = _object(body, "picture", {"url", "sha1"})
    predicted = _object(body, "predicted", {"category", "colour", "model_version"})
    seen = Answer(_text(predicted.get("model_version"), "predicted.model_version", required=True),
                  _text(predicted.get("category"), "predicted.category", required=True),
                  _text(predicted.get("colour"), "predicted.colour"))
    correction = checked_labels(_object(body, "corrected", {"category", "colour", "garment"}), "corrected",
                                vocabulary())
    page_url = None if body.get("page_url") is None else web_url(body["page_url"], "page_url")
    reported_at = _reported_at(body.get("reported_at"))
    store = open_store()
    try:
        sha1, url, picture_bytes = _picture(picture, store)
        vote = store.record_feedback(sha1, _as_answered(seen, picture_bytes), correction, picture_url=url,
                                     page_url=page_url, reported_at=reported_at,
                                     sender=request.headers.get("X-API-Key", ""),
                                     daily_budget=settings().feedback_daily_budget)
    except BudgetSpent as exc:
        raise APIError(429, f"{exc}: try again tomorrow") from None
    except SQLAlchemyError as exc:
        raise APIError(503, f"corrections database unavailable: {type(exc).__name__}") from None
    return jsonify(feedback_id=vote.feedback_id, picture_sha1=sha1, disagrees=correction.disagrees_with(seen),
                   updated=vote.updated), 200 if vote.updated else 201
