"""Loopback sites for crawler tests and benchmarks: a shop on 127.0.0.1 whose pages are
static files, and a picture CDN on 127.0.0.2 (another host, as every real shop's CDN is).

Shop files: ``/products/a`` is served from ``ROOT/products/a`` or ``ROOT/products/a.html``;
the query string is ignored (``sitemap_products_1.xml?from=1&to=9``) but for ``page=N``,
which picks ``ROOT/<path>.pageN`` where that exists; ``X.gz`` is ``X``
gzip-compressed; ``{shop}`` and ``{cdn}`` in a file become the two base URLs.
CDN pictures are drawn from their name: ``/.../<category>-<colour>-<seed>[-small].<ext>``
(``.txt``: not a picture, ``-cut``: truncated, ``-near``: resized and re-encoded; a category
or colour it cannot draw, "other-none", comes as a grey shirt); its robots.txt forbids ``/private/``.
"""

from __future__ import annotations

import contextlib
import gzip
import random
import re
import threading
from collections.abc import Iterator
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from shoplens.imaging import jpeg_bytes
from shoplens.sample import SHAPES, draw_garment
from shoplens.vocab import COLOURS

CDN_ROBOTS = b"User-agent: *\nDisallow: /private/\n"
PICTURE = re.compile(r"(?P<category>[a-z]+)-(?P<colour>[a-z]+)-(?P<seed>\d+)(?P<kind>-small|-cut|-near)?"
                     r"\.(?P<ext>jpg|txt)$")
TYPES = {".xml": "application/xml", ".json": "application/json", ".txt": "text/plain", ".gz": "application/x-gzip"}


@lru_cache(maxsize=1024)
def cdn_picture(name: str) -> bytes | None:
    found = PICTURE.search(name)
    if not found:
        return None
    if found["ext"] == "txt":
        return b"<html>not a picture</html>"
    category = found["category"] if found["category"] in SHAPES else "shirt"
    colour = found["colour"] if found["colour"] in COLOURS else "grey"  # "none": the page states no colour
    size = (40, 50) if found["kind"] == "-small" else (120, 160)
    image = draw_garment(category, colour, size, random.Random(int(found["seed"])))
    data = jpeg_bytes(image.resize((114, 152)), 70) if found["kind"] == "-near" else jpeg_bytes(image)
    return data[: len(data) // 2] if found["kind"] == "-cut" else data


class Server(ThreadingHTTPServer):
    # The default backlog of 5 resets a crawler's parallel connections; a reset robots.txt
    # fetch reads as "no robots.txt" and would let forbidden pictures through.
    request_queue_size = 256
    daemon_threads = True


class Log(list):
    """(host, path with query) of every request, in order."""


def _handler(root: Path | None, log: Log, bases: dict[str, str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # http.server's name
            log.append((self.server.server_address[0], self.path))
            url = urlsplit(self.path)
            body, kind = self._answer(url.path, parse_qs(url.query).get("page", [""])[0])
            self.send_response(200 if body is not None else 404)
            body = body if body is not None else b"not found"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _answer(self, path: str, page: str) -> tuple[bytes | None, str]:
            if root is None:  # the CDN
                if path == "/robots.txt":
                    return CDN_ROBOTS, "text/plain"
                return cdn_picture(path.rsplit("/", 1)[-1]), "image/jpeg"
            compressed = path.endswith(".gz")
            relative = (path[:-3] if compressed else path).lstrip("/") or "index.html"
            paged = [root / f"{relative}.page{page}"] if page else []
            for candidate in (*paged, root / relative, root / f"{relative}.html", root / relative / "index.html"):
                if candidate.is_file() and root in candidate.resolve().parents:
                    body = candidate.read_bytes()
                    for key, value in bases.items():
                        body = body.replace(key.encode(), value.encode())
                    if compressed:
                        return gzip.compress(body), TYPES[".gz"]
                    suffix = next((s for s in candidate.suffixes if s in TYPES), "")
                    return body, TYPES.get(suffix, "text/html; charset=utf-8")
            return None, "text/html"

    return Handler


@contextlib.contextmanager
def running(servers: list[Server]) -> Iterator[None]:
    """Serve each server in a background thread until the block ends."""
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@contextlib.contextmanager
def serve_sites(root: Path) -> Iterator[tuple[str, str, Log]]:
    """Serve the shop in `root` on 127.0.0.1 and the CDN on 127.0.0.2; yields (shop, cdn, log)."""
    log, bases = Log(), {}
    servers = [Server((host, 0), _handler(files, log, bases))
               for host, files in (("127.0.0.1", root.resolve()), ("127.0.0.2", None))]
    bases.update({"{shop}": f"http://127.0.0.1:{servers[0].server_address[1]}",
                  "{cdn}": f"http://127.0.0.2:{servers[1].server_address[1]}"})
    with running(servers):
        yield bases["{shop}"], bases["{cdn}"], log
