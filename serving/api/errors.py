"""Every failure is a JSON body with a reason; nothing a client sends can crash a worker."""

from __future__ import annotations

from flask import Flask, Response, jsonify, request
from flask_limiter import RateLimitExceeded
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

# What a 503 asks a client to wait, in seconds: TorchServe's restarts and full queues clear
# within seconds (bench/faults.py); a client's own backoff grows from there.
RETRY_AFTER_SECONDS = 2


class APIError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _json(error: HTTPException, reason: str) -> Response:
    """The error's own response (its status and headers: Allow on 405, Retry-After on 429) with a JSON body."""
    response = error.get_response()
    response.set_data(jsonify(error=reason).get_data())
    response.content_type = "application/json"
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(APIError)
    def api_error(error: APIError):
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if error.status == 503 else {}
        return jsonify(error=error.reason), error.status, headers

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(error: RateLimitExceeded):
        return _json(error, f"rate limit reached: {error.description} (pictures per API key)")

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(error: RequestEntityTooLarge):
        """Met while reading a body that had no Content-Length to refuse it by, or had too many parts."""
        return _json(error, f"the request body is over its limits ({request.max_content_length} bytes, "
                            f"{request.max_form_parts} multipart parts)")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return _json(error, error.description or error.name)

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        app.logger.exception("unexpected error")
        return jsonify(error="internal error"), 500
