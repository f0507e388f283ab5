"""Fixtures of the API tests (tests/test_api/): one serving stack for the whole session.

The real redis-server and TorchServe (tests/conftest.py's session fixtures) are started
once; each test gets fresh API settings pointed at them, an emptied Redis, and makes its
own Flask app (cheap) or gunicorn process. A test that stops a part starts its own copy.
"""

from __future__ import annotations

import http.server
import threading
from dataclasses import dataclass
from typing import Any

import pytest
import redis

from serving.api import create_app
from serving.api.config import Settings
from serving.operations.torchserve import TorchServe
from shoplens.imaging import jpeg_bytes

ADMIN_KEY = "test-admin-key"  # the one key the test APIs accept on the review queue


@dataclass(frozen=True)
class ServingStack:
    """The session's running TorchServe (with its bundle's bundle.json) and redis-server, and the API key."""

    torchserve: TorchServe
    bundle: dict[str, Any]
    redis_url: str
    api_key: str
    admin_key: str = ADMIN_KEY

    def settings(self, **overrides: Any) -> Any:
        """API settings in front of this stack, with its one API key and one admin key."""
        server = self.torchserve
        values = dict(torchserve_urls=[server.inference_url], management_urls=[server.management_url],
                      key_files=[str(server.key_file)], redis_url=self.redis_url, api_keys=[self.api_key],
                      admin_keys=[self.admin_key])
        return Settings(**{**values, **overrides})


@pytest.fixture(scope="session")
def serving_stack(torchserve, redis_server, api_key) -> ServingStack:
    server, bundle = torchserve
    return ServingStack(server, bundle, redis_server, api_key)


@pytest.fixture()
def settings(serving_stack, tmp_path):
    """Fresh settings in front of the session stack, Redis emptied: no test sees another's cache; the
    corrections database (SQLite) and picture store in the test's own folder."""
    redis.Redis.from_url(serving_stack.redis_url).flushdb()
    return serving_stack.settings(database_url=f"sqlite:///{tmp_path / 'corrections.sqlite3'}",
                                  picture_store=str(tmp_path / "pictures"))


@pytest.fixture()
def client(settings):
    return create_app(settings).test_client()


@pytest.fixture(scope="session")
def picture(drawn):
    """picture(category, colour, seed, size) -> a drawn garment (the `drawn` fixture's) as JPEG bytes."""
    def make(category: str = "dress", colour: str = "red", seed: int = 0, size: tuple[int, int] = (96, 128)) -> bytes:
        return jpeg_bytes(drawn(category, colour, seed, size))

    return make


@pytest.fixture()
def picture_host(picture):
    """A picture server on loopback: /pic.jpg, /d%C3%A9.jpg (a non-ASCII name, percent-encoded as browsers
    send it), /redirect?to=URL, /big.jpg (3 MB); yields "127.0.0.1:PORT"."""
    body_of = {"/pic.jpg": picture("shirt", "blue", seed=60), "/d%C3%A9.jpg": picture("dress", "blue", seed=61),
               "/big.jpg": b"0" * 3_000_000}

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/redirect?to="):
                self.send_response(302)
                self.send_header("Location", self.path.split("=", 1)[1])
                self.end_headers()
                return
            body = body_of.get(self.path)
            self.send_response(200 if body else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def headers(api_key) -> dict[str, str]:
    """Request headers carrying the API key of `settings`."""
    return {"X-API-Key": api_key}


@pytest.fixture(scope="session")
def admin_headers() -> dict[str, str]:
    """Request headers carrying the admin key of `settings` (the review queue's)."""
    return {"X-API-Key": ADMIN_KEY}
