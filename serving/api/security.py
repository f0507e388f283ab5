"""Who may call the API: API keys on the /v1 routes, and CORS for the extension's origins.

Keys are compared in constant time. Only origins named in SHOPLENS_CORS_ORIGINS (the
extension's) may read answers from a page's context (flask-cors).
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Flask, request
from flask_cors import CORS

from serving.api.errors import APIError

PROTECTED_BLUEPRINTS = frozenset({"classify", "models"})
KEY_HEADER = "X-API-Key"


def known_key(given: str, keys: list[str]) -> bool:
    """Whether `given` is one of `keys`, taking the same time wherever a key differs."""
    matches = [hmac.compare_digest(given.encode(), key.encode()) for key in keys]  # no early exit
    return any(matches)


def init_app(app: Flask, settings: Any) -> None:
    CORS(app, resources={r"/v1/*": {"origins": settings.cors_origins}}, allow_headers=["Content-Type", KEY_HEADER],
         methods=["GET", "POST", "OPTIONS"], max_age=600)

    @app.before_request
    def require_api_key() -> None:
        if request.method == "OPTIONS" or request.blueprint not in PROTECTED_BLUEPRINTS or not settings.api_keys:
            return
        if not known_key(request.headers.get(KEY_HEADER, ""), settings.api_keys):
            raise APIError(401, f"missing or unknown API key (header {KEY_HEADER})")
