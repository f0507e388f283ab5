"""Benchmark: the extension on a page of 64 photographs the server has never seen.

Starts the real stack on this machine (serving.operations.stack.Stack: redis-server,
TorchServe serving the starter model, the gunicorn-run API), a loopback CDN on 127.0.0.2
holding clothing-small validation photographs (with CORS headers) and a shop page on
127.0.0.1 that shows 64 of them in a lazy-loaded grid; then headless Chromium with the
extension opens the page and scrolls it as a shopper does. Between the extension and the
API sits a counting front (tests/support/flaky_api.py). Two runs, each on 64 pictures new to
the API and a fresh browser profile: the server as it is, then with the front refusing
every other batch for the first 10 s (a 503 with Retry-After, or each picture's own 503,
in turn). Each run prints pictures labelled against the pictures the API calls garments
(asked afterwards), the time to the first and to the last badge, the batch answers by
status and the pictures sent more than once.

    nice -n 5 .venv/bin/python bench/extension_load.py [--data ../shared/datasets/clothing-small] [--bundle DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from clothing_small import DEFAULT_DATA, validation_pictures

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the counting front lives in tests/support
from mainjob.extension import ExtensionBrowser  # noqa: E402
from serving.operations.cli import STARTER_BUNDLE  # noqa: E402
from serving.operations.stack import Stack  # noqa: E402
from tests.support.flaky_api import flaky_api  # noqa: E402

KEY = "bench-key"
PICTURES = 64
QUIET_SECONDS = 10  # the run ends once no batch came for this long and no badge was added
LIMIT_SECONDS = 300
LABELLED = "return document.querySelectorAll('img[data-shoplens-label]').length"


def page(count: int, offset: int, cdn: str) -> bytes:
    cards = "\n".join(f'<li class="product-card"><img src="{cdn}/p/{offset + i}.jpg" loading="lazy" width="240" '
                      f'height="320" alt="Product {i + 1}"><p>Product {i + 1}</p></li>' for i in range(count))
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>New in</title><style>"
            "ul{display:grid;grid-template-columns:repeat(4,240px);gap:16px;list-style:none}"
            "img{display:block;width:240px;height:320px;object-fit:cover}</style></head>"
            f"<body><h1>New in</h1><ul>{cards}</ul></body></html>").encode()


def serve(host: str, answer) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:  # http.server's name
            body, kind, extra = answer(self.path)
            self.send_response(200 if body is not None else 404)
            for name, value in [("Content-Type", kind), ("Content-Length", str(len(body or b""))), *extra]:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body or b"")

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def garments(api_url: str, photographs: list[bytes]) -> int:
    """How many of the pictures the API calls garments (asked once the run is over: cached)."""
    boundary = "benchboundary"
    count = 0
    for start in range(0, len(photographs), 16):
        parts = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"images\"; filename=\"{i}.jpg\"\r\n"
                         f"Content-Type: image/jpeg\r\n\r\n".encode() + data + b"\r\n"
                         for i, data in enumerate(photographs[start:start + 16]))
        request = urllib.request.Request(f"{api_url}/v1/classify/batch", data=parts + f"--{boundary}--\r\n".encode(),
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}",
                                                  "X-API-Key": KEY})
        with urllib.request.urlopen(request, timeout=120) as response:
            count += sum(1 for r in json.load(response)["results"] if "error" not in r and r.get("garment", True))
    return count


def run(stack: Stack, shop: str, offset: int, refuse_for: float, photographs: list[bytes], profile: Path) -> str:
    with flaky_api(stack.api.url, refuse_for=refuse_for) as front:
        browser = ExtensionBrowser(profile)
        try:
            browser.configure(front.url, KEY)
            driver = browser.driver
            started = time.monotonic()
            driver.get(f"{shop}/grid?offset={offset}")
            first = last = None
            labelled = 0
            while time.monotonic() - started < LIMIT_SECONDS:
                driver.execute_script("window.scrollBy(0, 400)")
                now_labelled = driver.execute_script(LABELLED)
                now = time.monotonic()
                if now_labelled > labelled:
                    labelled, last = now_labelled, now
                    first = first or now
                quiet_since = max(last or started, front.last_batch or started)
                if now - quiet_since > QUIET_SECONDS and labelled:
                    break
                time.sleep(0.25)
        finally:
            browser.quit()
        expected = garments(stack.api.url, photographs[offset:offset + PICTURES])
        statuses = ", ".join(f"{status}: {n}" for status, n in sorted(front.statuses.items()))
        timing = (f"first badge {first - started:.1f} s, last badge {last - started:.1f} s"
                  if first else "no badge")
        passed = ", ".join(f"{sent - started:.2f} s: {pictures} in {seconds:.2f} s" for sent, seconds, pictures
                           in front.passed)
        return (f"{'refusing every other batch for 10 s' if refuse_for else 'server as it is'}: "
                f"{labelled}/{expected} garment pictures labelled ({PICTURES} on the page); {timing}; "
                f"batches {front.batches} ({statuses}); pictures resent {front.resent}\n"
                f"  batches answered by the API (sent after load: pictures in seconds): {passed}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="clothing-small (its validation photographs)")
    parser.add_argument("--bundle", type=Path, default=STARTER_BUNDLE, help="model bundle (default: the starter)")
    args = parser.parse_args()
    labels = sorted(p.name for p in (args.data / "validation").iterdir() if p.is_dir()) if args.data.is_dir() else []
    if not labels:
        print(f"clothing-small not found at {args.data}: nothing to measure")
        return 0
    paths, _ = validation_pictures(args.data, labels)
    photographs = [path.read_bytes() for path in paths[::max(1, len(paths) // (2 * PICTURES))][:2 * PICTURES]]
    cdn = serve("127.0.0.2", lambda path: ((photographs[int(path.rsplit("/", 1)[1].split(".")[0])], "image/jpeg",
                                            [("Access-Control-Allow-Origin", "*")])
                                           if path.startswith("/p/") else (None, "text/plain", [])))
    cdn_url = f"http://127.0.0.2:{cdn.server_address[1]}"
    shop = serve("127.0.0.1", lambda path: (page(PICTURES, int(path.split("offset=")[1]), cdn_url), "text/html", [])
                 if path.startswith("/grid") else (None, "text/plain", []))
    shop_url = f"http://127.0.0.1:{shop.server_address[1]}"
    with tempfile.TemporaryDirectory() as folder, Stack(
            args.bundle, Path(folder) / "stack", [KEY],
            api_environment={"SHOPLENS_FETCH_ALLOW_HOSTS": f"127.0.0.2:{cdn.server_address[1]}"}).start() as stack:
        lines = [run(stack, shop_url, offset, refuse_for, photographs, Path(folder) / f"profile-{offset}")
                 for offset, refuse_for in ((0, 0.0), (PICTURES, 10.0))]
    print(f"model bundle {args.bundle}; {PICTURES} clothing-small validation photographs per run, new to the API")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
