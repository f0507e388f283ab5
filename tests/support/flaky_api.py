"""A loopback front for the real API that refuses some of its batches: for the first
`refuse_for` seconds after the first batch, every other ``POST /v1/classify/batch`` is
refused in one of the two ways the API itself refuses, in turn: a 503 with ``Retry-After: 1``
(nothing could be answered), or a 200 whose every picture has its own 503 error (the API's
shape when only some pictures could not be answered). Everything else is passed to the API
unchanged. It counts what it answered by status and the pictures sent more than once
(`statuses`, `resent`): bench/extension_load.py runs it with no refusals as a counter."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

BATCH_PATH = "/v1/classify/batch"


class FlakyApi(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: str, refuse_for: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.upstream = urlsplit(upstream)
        self.refuse_for = refuse_for
        self.first_batch: float | None = None
        self.batches = self.refused = 0
        self.statuses: Counter[int] = Counter()  # answers to the batches, refused ones included
        self.pictures: Counter[str] = Counter()  # SHA-256 of each picture part sent, times sent
        self.last_batch = 0.0  # time.monotonic() of the latest batch
        self.passed: list[tuple[float, float, int]] = []  # batches passed on: (monotonic time sent, seconds, pictures)
        self.lock = threading.Lock()

    @property
    def resent(self) -> int:
        """Pictures sent again after a first time."""
        return sum(count - 1 for count in self.pictures.values())

    def note(self, body: bytes, content_type: str) -> None:
        """Counts the pictures of a multipart batch by their bytes' digest."""
        boundary = re.search(r"boundary=\"?([^\";]+)", content_type or "")
        if not boundary:
            return
        with self.lock:
            for part in body.split(b"--" + boundary[1].encode())[1:-1]:
                payload = part.split(b"\r\n\r\n", 1)[-1].rstrip(b"\r\n")
                self.pictures[hashlib.sha256(payload).hexdigest()] += 1

    def answered(self, status: int) -> None:
        with self.lock:
            self.statuses[status] += 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def refuses(self, path: str) -> bool:
        """Whether this request is one of the refused batches (counted either way)."""
        if not path.startswith(BATCH_PATH):
            return False
        with self.lock:
            now = time.monotonic()
            self.first_batch = self.first_batch or now
            self.last_batch = now
            self.batches += 1
            refuse = now - self.first_batch < self.refuse_for and self.batches % 2 == 1
            self.refused += refuse
            return refuse


class _Handler(BaseHTTPRequestHandler):
    server: FlakyApi

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # http.server's names
        self._pass()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith(BATCH_PATH):
            self.server.note(body, self.headers.get("Content-Type", ""))
        if self.server.refuses(self.path):
            self._refuse(body, whole=self.server.refused % 2 == 1)
            return
        self._pass(body)

    def _refuse(self, body: bytes, whole: bool) -> None:
        reason = "the model server is busy"
        if whole:
            status, payload, extra = 503, {"error": reason}, [("Retry-After", "1")]
        else:
            pictures = body.count(b'name="images"') or len(json.loads(body or b"{}").get("urls", []))
            status, payload, extra = 200, {"results": [{"error": reason, "status": 503}] * pictures}, []
        data = json.dumps(payload).encode()
        self.server.answered(status)
        self.send_response(status)
        for name, value in [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *extra]:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _pass(self, body: bytes | None = None) -> None:
        sent = time.monotonic()
        upstream = self.server.upstream
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        connection.request(self.command, self.path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        if self.path.startswith(BATCH_PATH):
            self.server.answered(answer.status)
            with self.server.lock:
                self.server.passed.append((sent, time.monotonic() - sent, body.count(b'name="images"')))
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        connection.close()


@contextlib.contextmanager
def flaky_api(upstream: str, refuse_for: float = 10.0) -> Iterator[FlakyApi]:
    server = FlakyApi(upstream, refuse_for)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
