"""What a classify request carries, checked before any work is done.

The size policy: a request body is refused from its Content-Length, before it is read
(413 with a reason): one picture (plus room for multipart framing) on /v1/classify, at
most SHOPLENS_MAX_BATCH_BYTES on the batch route, JSON_BODY_BYTES on the JSON-only routes
(a correction, a review decision); each picture, uploaded or fetched, at
most SHOPLENS_MAX_UPLOAD_BYTES. Bodies without a Content-Length are cut at the same
limits as they are read. Under gunicorn, what the client of a refused body still sends is
read and dropped after the 413 went out (bounded: `discard_unread`), so closing the connection
does not reset it before the client has read why (nginx's "lingering close").

The pictures: multipart uploads, a raw image body, or JSON URLs. Each picture is its own
item: a bad one becomes its APIError, and the rest of a batch is still answered. URLs are
made well-formed here (length, valid text, parseable port and host, non-ASCII paths
percent-encoded) before the fetcher's address guard sees them.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from flask import Response, g, request
from werkzeug.exceptions import HTTPException

from serving.api.errors import APIError
from serving.api.services import settings

BATCH_ENDPOINT = "classify.classify_batch"
JSON_ENDPOINTS = frozenset({"feedback.feedback", "review.decide"})  # small JSON bodies, never a picture
JSON_BODY_BYTES = 16 * 1024
FRAMING_ALLOWANCE = 64 * 1024  # multipart boundaries and part headers around one picture
MAX_URL_LENGTH = 2048  # what browsers and CDNs reliably carry
PATH_SAFE = "/%:@!$&'()*+,;=~-._"
QUERY_SAFE = PATH_SAFE + "?"

LINGER_BYTES = 256 * 1024 * 1024  # at most this much of a refused body is read and dropped ...
LINGER_IDLE_S = 2.0  # ... waiting at most this long for each next byte (a client that sends nothing is let go)
LINGER_TOTAL_S = 15.0  # ... and this long in all: a slow sender cannot hold the thread

Item = bytes | str | APIError  # picture bytes, a URL still to fetch, or why the item is refused


def body_limit() -> int:
    if request.endpoint == BATCH_ENDPOINT:
        return settings().max_batch_bytes
    if request.endpoint in JSON_ENDPOINTS:
        return JSON_BODY_BYTES
    return settings().max_upload_bytes + FRAMING_ALLOWANCE


def enforce_body_limit() -> None:
    """Refuses an oversized body from its Content-Length (nothing read), and caps reading the rest."""
    limit = body_limit()
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        what = ("a batch" if request.endpoint == BATCH_ENDPOINT else "this JSON body"
                if request.endpoint in JSON_ENDPOINTS else "one picture")
        g.refused_body = request.content_length
        raise APIError(413, f"the request body is {request.content_length} bytes; {what} may be at most {limit}")


def linger_after_refusal(response: Response) -> Response:
    """After a body refused unread, once the answer is out: drop what the client still sends (`discard_unread`)."""
    connection = request.environ.get("gunicorn.socket")
    if g.get("refused_body") and connection is not None:
        announced = g.refused_body
        response.call_on_close(lambda: discard_unread(connection, announced))
    return response


def discard_unread(connection: Any, announced: int) -> int:
    """Read and drop up to `announced` bytes (bounded by LINGER_*) from the client's socket; bytes dropped. A body
    dropped whole leaves the connection usable (keep-alive); one cut short leaves it shut, never misread."""
    deadline, dropped = time.monotonic() + LINGER_TOTAL_S, 0
    try:
        connection.settimeout(LINGER_IDLE_S)
        while dropped < min(announced, LINGER_BYTES) and time.monotonic() < deadline:
            chunk = connection.recv(1 << 20)
            if not chunk:
                break
            dropped += len(chunk)
    except OSError:  # the client gave up or paused too long
        pass
    if dropped < announced:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    return dropped


def request_pictures() -> list[Item]:
    """The request's pictures, in order. Parsed once per request, failure included (the rate limit
    counts them before the view, and a body cannot be read twice)."""
    if "pictures" not in g:
        try:
            g.pictures = _parse()
        except (APIError, HTTPException) as error:
            g.pictures = error
    if isinstance(g.pictures, Exception):
        raise g.pictures
    return g.pictures


def _parse() -> list[Item]:
    if request.mimetype == "multipart/form-data":
        files = request.files.getlist("image") + request.files.getlist("images")
        if not files:
            raise APIError(400, "no picture in the multipart fields 'image' or 'images'")
        _check_count(len(files))
        return [_upload(file.stream, settings().max_upload_bytes) for file in files]
    if request.mimetype.startswith("image/") or request.mimetype == "application/octet-stream":
        return [_upload(request.stream, settings().max_upload_bytes)]
    if request.is_json:
        urls = _json_urls()
        _check_count(len(urls))  # before any URL is looked at
        return [_url_item(url) for url in urls]
    raise APIError(415, "send the picture as multipart field 'image', a raw image/* body, or JSON {'url': ...}")


def _check_count(count: int) -> None:
    if not 1 <= count <= settings().max_batch:
        raise APIError(400, f"send 1 to {settings().max_batch} pictures (multipart fields 'images' or JSON 'urls')")


def _upload(stream: Any, limit: int) -> bytes | APIError:
    picture = stream.read(limit + 1)
    if len(picture) > limit:
        return APIError(413, f"the picture is larger than {limit} bytes")
    return picture


def _parsed_json() -> Any:
    """The JSON body, None when it is malformed."""
    try:
        return request.get_json(silent=True)
    except RecursionError:
        raise APIError(400, "the JSON body is nested too deeply") from None


def json_object() -> dict[str, Any]:
    """The request's body as one JSON object: 415 when it is not JSON, 400 when it is malformed."""
    if not request.is_json:
        raise APIError(415, "send a JSON object (Content-Type: application/json)")
    body = _parsed_json()
    if not isinstance(body, dict):
        raise APIError(400, "malformed JSON: the body must be one JSON object")
    return body


def _json_urls() -> list[Any]:
    body = _parsed_json()
    urls = ([body["url"]] if "url" in body else body.get("urls")) if isinstance(body, dict) else None
    if not isinstance(urls, list):
        raise APIError(400, "JSON bodies carry {'url': ...} or {'urls': [...]}")
    return urls


def _url_item(url: Any) -> str | APIError:
    try:
        return well_formed_url(url)
    except APIError as error:
        return error


def is_unicode_text(text: str) -> bool:
    """False for a string holding a lone surrogate (JSON's "\\ud800" decodes to one): no database stores it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def web_url(url: Any, name: str) -> str:
    """A well-formed http or https URL: the only kind stored (a javascript: or data: one never is)."""
    checked = well_formed_url(url)
    if urlsplit(checked).scheme not in ("http", "https") or not urlsplit(checked).hostname:
        raise APIError(400, f"'{name}' must be an http or https URL with a host")
    return checked


def well_formed_url(url: Any) -> str:
    """`url` in the ASCII form an HTTP request line carries; APIError(400) says what is wrong with it."""
    if not isinstance(url, str):
        raise APIError(400, "a URL must be a string")
    if len(url) > MAX_URL_LENGTH:
        raise APIError(400, f"the URL is longer than {MAX_URL_LENGTH} characters")
    if not is_unicode_text(url):
        raise APIError(400, "the URL is not valid Unicode text (it holds a lone surrogate)")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise APIError(400, f"malformed URL: {exc}") from None
    host = parts.hostname or ""
    try:
        if host and ":" not in host:  # IDNA also checks label lengths, which the resolver would choke on
            host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise APIError(400, "malformed URL: the host name is not a valid domain name") from None
    netloc = (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme.lower(), netloc, quote(parts.path, safe=PATH_SAFE),
                       quote(parts.query, safe=QUERY_SAFE), ""))
