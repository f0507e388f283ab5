"""Who may call the API, and how much: API keys on the /v1 routes, admin keys on the review
queue, CORS for the extension's origins, and per-key rate limits.

Shopper keys (SHOPLENS_API_KEYS) open classify, similar, models and feedback; the review
queue (/v1/review) takes only admin keys (SHOPLENS_ADMIN_KEYS), which open the shopper
routes too. A shopper key on the queue is 403, an unknown key 401; with no admin key
configured the queue is closed (403).

Keys are compared in constant time, and the API refuses to start without one unless
SHOPLENS_INSECURE_NO_API_KEY says so. Only origins named in SHOPLENS_CORS_ORIGINS (the
extension's) may read answers from a page's context (flask-cors). Rate limits count
pictures per key (a batch of 8 costs 8) with Flask-Limiter in Redis, shared by every
worker; while Redis is down each worker keeps counting in memory.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import Flask, request
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.exceptions import HTTPException

from serving.api.errors import APIError
from serving.api.inputs import request_pictures
from shoplens import ShopLensError

PROTECTED_BLUEPRINTS = frozenset({"classify", "models", "similar", "feedback"})
ADMIN_BLUEPRINTS = frozenset({"review"})
LIMITED_BLUEPRINTS = frozenset({"classify", "similar", "feedback"})  # rate limits count the pictures these take
KEY_HEADER = "X-API-Key"


def known_key(given: str, keys: list[str]) -> bool:
    """Whether `given` is one of `keys`, taking the same time wherever a key differs."""
    matches = [hmac.compare_digest(given.encode(), key.encode()) for key in keys]  # no early exit
    return any(matches)


def caller() -> str:
    """Whom a rate limit counts: the API key (hashed: keys are not written to Redis), else the address."""
    key = request.headers.get(KEY_HEADER)
    return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32] if key else "address:" + get_remote_address()


def picture_count() -> int:
    """What a request costs against the rate limit: its pictures (1 for a correction, and for a request
    the view will refuse: raising here would read to Flask-Limiter as its storage failing)."""
    if request.blueprint == "feedback":
        return 1
    try:
        return max(1, len(request_pictures()))
    except (APIError, HTTPException):
        return 1


def not_counted() -> bool:
    return request.blueprint not in LIMITED_BLUEPRINTS or request.method == "OPTIONS"


def require_admin_key(given: str, settings: Any) -> None:
    if not settings.admin_keys:
        raise APIError(403, "the review queue is closed: no admin key is configured (SHOPLENS_ADMIN_KEYS)")
    if known_key(given, settings.admin_keys):
        return
    if known_key(given, settings.api_keys):
        raise APIError(403, "the review queue needs an admin key; this is a shopper key")
    raise APIError(401, f"missing or unknown admin key (header {KEY_HEADER})")


def init_app(app: Flask, settings: Any) -> None:
    if not settings.api_keys and not settings.insecure_no_api_key:
        raise ShopLensError("no API key configured: set SHOPLENS_API_KEYS, or SHOPLENS_INSECURE_NO_API_KEY=true "
                            "to run the API open to anyone who can reach it")
    CORS(app, resources={r"/v1/*": {"origins": settings.cors_origins}}, allow_headers=["Content-Type", KEY_HEADER],
         methods=["GET", "POST", "OPTIONS"], max_age=600)

    @app.before_request
    def require_api_key() -> None:  # registered before the limiter's check: unknown callers are not counted
        if request.method == "OPTIONS":
            return
        given = request.headers.get(KEY_HEADER, "")
        if request.blueprint in ADMIN_BLUEPRINTS:
            require_admin_key(given, settings)
        elif request.blueprint in PROTECTED_BLUEPRINTS and settings.api_keys:
            if not known_key(given, settings.api_keys + settings.admin_keys):
                raise APIError(401, f"missing or unknown API key (header {KEY_HEADER})")

    limit = f"{settings.rate_limit} per {settings.rate_window} second"
    Limiter(caller, app=app, application_limits=[limit], application_limits_cost=picture_count,  # one count per key
            application_limits_exempt_when=not_counted,
            storage_uri=settings.redis_url, key_prefix="shoplens:rate",
            storage_options={"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            in_memory_fallback_enabled=True, headers_enabled=True, strategy="fixed-window")
