"""Shop pages in real theme markup (tests/pages/*.html) on 127.0.0.1, their pictures on a
second loopback host, 127.0.0.2, acting as the shop's CDN.

The CDN resizes like Shopify's (`?width=N`) and answers by the path's first part:
`/cors/...` with `Access-Control-Allow-Origin: *`, `/plain/...` without CORS headers (a
browser shows the picture, an extension's worker cannot read it), `/hotlink/...` only with
a Referer from the shop (hot-link protection: the browser shows it, neither the extension
nor the API can fetch it) until a test sets the server's `hotlink_open`. A picture's name
says what it shows: `dress-red-3.jpg` is a red dress drawn with seed 3, in the format of
its extension (jpg, png, webp, avif, gif).
"""

from __future__ import annotations

import io
import random
import re
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from PIL import Image

from shoplens.sample import draw_garment
from tests.support import ROOT

PAGES = ROOT / "tests" / "pages"
LAZYSIZES = ROOT / "extension" / "node_modules" / "lazysizes" / "lazysizes.min.js"
DRAWN_SIZE = (480, 640)
FORMATS = {"jpg": ("JPEG", "image/jpeg"), "png": ("PNG", "image/png"), "webp": ("WEBP", "image/webp"),
           "avif": ("AVIF", "image/avif"), "gif": ("GIF", "image/gif")}
NAME = re.compile(r"^/(cors|plain|hotlink)/([a-z]+)-([a-z]+)-(\d+)\.(jpg|png|webp|avif|gif)$")
# pictures that are not garments: a 1x1 placeholder, a 3:1 wordmark, a 15:4 hero banner
OTHERS = {"/plain/blank.gif": ((1, 1), "gif"), "/cors/blank.gif": ((1, 1), "gif"),
          "/cors/wordmark.png": ((240, 80), "png"), "/cors/hero-banner.jpg": ((1500, 400), "jpg")}


def _encoded(image: Image.Image, extension: str) -> bytes:
    pillow_format, _ = FORMATS[extension]
    out = io.BytesIO()
    image.convert("RGB" if extension in ("jpg", "avif", "webp") else "RGBA").save(out, pillow_format)
    return out.getvalue()


def picture(path: str, width: int | None) -> tuple[bytes, str] | None:
    """(bytes, content type) of the CDN's picture at `path` resized to `width`, or None."""
    if path in OTHERS:
        size, extension = OTHERS[path]
        image = Image.new("RGB", size, (200, 190, 170))
    else:
        match = NAME.match(path)
        if not match:
            return None
        _, category, colour, seed, extension = match.groups()
        image = draw_garment(category, colour, DRAWN_SIZE, random.Random(int(seed)))
        if width:
            image = image.resize((width, round(width * DRAWN_SIZE[1] / DRAWN_SIZE[0])), Image.LANCZOS)
    return _encoded(image, extension), FORMATS[extension][1]


class CdnHandler(BaseHTTPRequestHandler):
    """The pictures' host; every request is logged as (path, Referer)."""

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        self.server.requests.append((url.path, self.headers.get("Referer", "")))
        width = parse_qs(url.query).get("width", [None])[0]
        found = picture(url.path, int(width) if width and width.isdigit() else None)
        referer = urlsplit(self.headers.get("Referer", "")).hostname
        if found is None:
            self.send_error(404)
            return
        if url.path.startswith("/hotlink/") and referer != self.server.shop_host and not self.server.hotlink_open:
            self.send_error(403, "hot-linking refused")
            return
        body, content_type = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600")
        if url.path.startswith("/cors/"):
            self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class PagesHandler(BaseHTTPRequestHandler):
    """The shop: tests/pages/NAME.html at /NAME with {{cdn}} as the CDN's protocol-relative
    root, and lazysizes (as the page's own script) at /vendor/lazysizes.min.js."""

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/vendor/lazysizes.min.js":
            self._send(LAZYSIZES.read_bytes(), "text/javascript")
            return
        page = PAGES / f"{path.strip('/')}.html"
        if not re.fullmatch(r"/[a-z0-9-]+", path) or not page.is_file():
            self.send_error(404)
            return
        self._send(page.read_text().replace("{{cdn}}", self.server.cdn).encode(), "text/html; charset=utf-8")

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serve_pages(shop_host: str = "127.0.0.1", cdn_host: str = "127.0.0.2"):
    """Starts the CDN and the shop on loopback; yields (shop URL, CDN server: .requests, .port)."""
    cdn = ThreadingHTTPServer((cdn_host, 0), CdnHandler)
    cdn.requests, cdn.shop_host, cdn.hotlink_open = [], shop_host, False
    shop = ThreadingHTTPServer((shop_host, 0), PagesHandler)
    shop.cdn = f"//{cdn_host}:{cdn.server_address[1]}"
    threads = [threading.Thread(target=server.serve_forever, daemon=True) for server in (cdn, shop)]
    for thread in threads:
        thread.start()
    try:
        yield f"http://{shop_host}:{shop.server_address[1]}", cdn
    finally:
        for server in (cdn, shop):
            server.shutdown()
            server.server_close()


def page_names() -> list[str]:
    return sorted(path.stem for path in Path(PAGES).glob("*.html"))
