"""GET /openapi.json: the API's OpenAPI 3.1 document (tests keep it true to the routes and answers)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify

blueprint = Blueprint("openapi", __name__)
DOCUMENT = Path(__file__).with_name("openapi.json")


@cache
def document() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text(encoding="utf-8"))


@blueprint.get("/openapi.json")
def openapi():  # noqa: ANN201 (Flask view)
    return jsonify(document())
