"""The review queue, for people with an admin key: GET /v1/review (ranked, paginated), POST
/v1/review/<id> (accept or fix), GET /v1/review/pictures/<sha1> (the kept bytes), and the
review page GET /review (review.html: plain HTML and JavaScript, keyboard first), which
asks for the admin key and calls these routes.

The ranking is the store's (`shoplens.corrections.store.rank_for_review`): corrections that
disagree with the model first, then the most uncertain answers, one entry per picture, no
near-duplicate or same predicted category back to back where the next few allow.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify, request, send_file
from sqlalchemy.exc import SQLAlchemyError

from serving.api.errors import APIError
from serving.api.feedback import SHA1, checked_labels, open_store
from serving.api.inputs import json_object
from serving.api.models import vocabulary
from shoplens.corrections.store import AlreadyDecided, QueuedItem, UnknownItem

blueprint = Blueprint("review", __name__, url_prefix="/v1")
page = Blueprint("review_page", __name__)
PAGE = Path(__file__).with_name("review.html")
MAX_LIMIT = 100
MAX_ITEM_ID = 2**31 - 1  # ids are SQL INTEGER (32-bit on PostgreSQL): a larger one names no item
WHOLE_NUMBER = re.compile(r"[0-9]{1,10}")  # ASCII digits: str.isdigit() also takes "²", which int() refuses


def _whole_number(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name, str(default))
    if not WHOLE_NUMBER.fullmatch(text) or not low <= int(text) <= high:
        raise APIError(400, f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return int(text)


def _shown(entry: QueuedItem) -> dict[str, Any]:
    item = entry.item
    proposed = None if item.reason != "correction" else {
        "category": item.proposed_category, "colour": item.proposed_colour, "garment": bool(item.proposed_garment)}
    return {"id": item.id, "picture_sha1": item.picture_sha1, "picture": f"/v1/review/pictures/{item.picture_sha1}",
            "reason": item.reason, "reports": entry.reports, "model_version": item.model_version,
            "predicted": {"category": item.predicted_category, "colour": item.predicted_colour,
                          "probability": item.predicted_probability},
            "proposed": proposed, "uncertainty": item.uncertainty, "disagrees": bool(item.disagrees),
            "picture_url": entry.source_url, "page_url": entry.page_url,
            "created_at": item.created_at.isoformat()}


@blueprint.get("/review")
def review_queue():  # noqa: ANN201 (Flask view)
    offset = _whole_number("offset", 0, 0, 10**9)
    limit = _whole_number("limit", 20, 1, MAX_LIMIT)
    try:
        queue = open_store().review_queue(offset, limit)
    except SQLAlchemyError as exc:
        raise APIError(503, f"corrections database unavailable: {type(exc).__name__}") from None
    following = offset + limit if offset + limit < queue.total else None
    return jsonify(total=queue.total, offset=offset, limit=limit, next_offset=following,
                   items=[_shown(entry) for entry in queue.items])


@blueprint.post("/review/<int:item_id>")
def decide(item_id: int):  # noqa: ANN201
    if item_id > MAX_ITEM_ID:
        raise APIError(404, f"no review item {item_id}")
    body = json_object()
    decision = body.get("decision")
    if decision not in ("accept", "fix"):
        raise APIError(400, "'decision' must be 'accept' or 'fix'")
    labels = {name: value for name, value in body.items() if name != "decision"}
    if decision == "accept" and labels:
        raise APIError(400, "'accept' takes no labels; send 'fix' with the right ones")
    unknown = set(labels) - {"category", "colour", "garment"}
    if unknown:
        raise APIError(400, f"unknown fields: {', '.join(sorted(unknown))}")
    correction = checked_labels(labels, "fix", vocabulary()) if decision == "fix" else None
    try:
        item = open_store().decide(item_id, correction, reviewer=request.headers.get("X-API-Key", ""))
    except UnknownItem as exc:
        raise APIError(404, str(exc)) from None
    except AlreadyDecided as exc:
        raise APIError(409, str(exc)) from None
    except SQLAlchemyError as exc:
        raise APIError(503, f"corrections database unavailable: {type(exc).__name__}") from None
    return jsonify(id=item.id, status=item.status, category=item.decided_category, colour=item.decided_colour,
                   garment=bool(item.decided_garment))


@blueprint.get("/review/pictures/<sha1>")
def review_picture(sha1: str):  # noqa: ANN201
    location = open_store().picture_location(sha1) if SHA1.fullmatch(sha1) else None
    if location is None or not Path(location).is_file():
        raise APIError(404, f"no picture is kept with SHA-1 {sha1}")
    return send_file(location, mimetype=mimetypes.guess_type(location)[0] or "application/octet-stream",
                     max_age=3600)


@page.get("/review")
def review_page():  # noqa: ANN201
    return send_file(PAGE, mimetype="text/html", max_age=0)
