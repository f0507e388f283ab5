"""A local fixture shop on 127.0.0.1: the stand-in store for tests, benchmarks and the demo.

It has what real shops have and a crawler must cope with: category pages with
pagination, product pages carrying schema.org Product JSON-LD, a sitemap, a Shopify-style
``/products.json`` catalogue, a robots.txt forbidding ``/private/``, a page whose
products appear only after JavaScript runs, exact and near-duplicate pictures, a broken
picture and a non-image. Every picture is a garment the project draws itself. ``/shop`` is
the storefront a shopper sees, for the extension: cards with plain, srcset and <picture>
sources among icons, a sprite and a tracking pixel, and more cards by infinite scroll.

Its pages are Jinja templates and its JavaScript and CSS static files, both in
``testshop_site/``.

    python -m crawler.testshop --port 8800      # serve until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jinja2
import numpy as np

from shoplens import ShopLensError
from shoplens.imaging import decode_image, jpeg_bytes, perceptual_hash
from shoplens.sample import SHAPES, draw_garment
from shoplens.vocab import parse_term

PAGE_SIZE = 12
SEARCH_CAP = 70  # results an engine gives one query in one time window
SEARCH_WINDOWS = 4
DISTINCT_BITS = 5  # regular pictures differ from each other in more bits than the crawl's default 4
STOREFRONT_PAGE = 8  # cards on the storefront's first page and on each page its script adds
SITE = Path(__file__).resolve().parent / "testshop_site"  # templates/ (Jinja) and static/ (served as is)
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(SITE / "templates"), autoescape=True,
                               undefined=jinja2.StrictUndefined)


@dataclass(frozen=True)
class Product:
    id: str
    category: str
    colour: str
    seed: int
    kind: str = "regular"  # regular | duplicate | near_duplicate | broken | not_an_image | private | js | flaky

    @property
    def name(self) -> str:
        return f"{self.colour.title()} {self.category} {self.id}"


@dataclass(frozen=True)
class Catalogue:
    products: tuple[Product, ...]

    @classmethod
    def build(cls, categories: list[str], colours: list[str], per_label: int, seed: int = 0,
              flaky: bool = False) -> Catalogue:
        """`per_label` distinct products per category x colour plus the special cases; with
        `flaky`, one more whose picture answers 503 twice before it works."""
        rng = random.Random(seed)
        labels = [(c, k) for c in categories for k in colours for _ in range(per_label)]
        regular, hashes = [], np.zeros(0, dtype=np.uint64)
        for index, (category, colour) in enumerate(labels):
            while True:  # redraw until clearly unlike every earlier picture, as a curated shop is
                candidate = Product(f"p{index:05d}", category, colour, rng.getrandbits(31))
                phash = np.uint64(perceptual_hash(decode_image(picture_bytes(candidate))))
                if not len(hashes) or int(np.bitwise_count(hashes ^ phash).min()) > DISTINCT_BITS:
                    break
            regular.append(candidate)
            hashes = np.append(hashes, phash)
        first, second = regular[0], regular[1]
        specials = [
            Product("dup0001", first.category, first.colour, first.seed, "duplicate"),
            Product("near0001", second.category, second.colour, second.seed, "near_duplicate"),
            Product("broken0001", categories[0], colours[0], 1, "broken"),
            Product("text0001", categories[0], colours[0], 2, "not_an_image"),
            Product("secret0001", categories[0], colours[0], rng.getrandbits(31), "private"),
            *[Product(f"js{index:04d}", categories[index % len(categories)], colours[index % len(colours)],
                      rng.getrandbits(31), "js") for index in range(2)],
        ]
        if flaky:
            specials.append(Product("flaky0001", categories[-1], colours[-1], rng.getrandbits(31), "flaky"))
        return cls(tuple(regular + specials))

    def listed(self) -> list[Product]:
        """Products reachable from category pages and the sitemap."""
        return [p for p in self.products if p.kind not in ("private", "js")]

    def expected(self) -> list[Product]:
        """Products whose pictures a correct crawl keeps (the JavaScript ones included)."""
        return [p for p in self.products if p.kind in ("regular", "js", "flaky")]


@lru_cache(maxsize=4096)
def _draw_picture(category: str, colour: str, seed: int, kind: str) -> bytes:
    image = draw_garment(category, colour, (120, 160), random.Random(seed))
    data = jpeg_bytes(image.resize((114, 152)), 70) if kind == "near_duplicate" else jpeg_bytes(image)
    if kind == "broken":
        return data[: len(data) // 2]
    if kind == "not_an_image":
        return b"<html><body>404 picture not found</body></html>"
    return data


def picture_bytes(product: Product) -> bytes:
    return _draw_picture(product.category, product.colour, product.seed, product.kind)


def _json_ld(product: Product, base: str) -> dict:
    folder = "flaky" if product.kind == "flaky" else "img"
    return {"@context": "https://schema.org", "@type": "Product", "name": product.name, "sku": product.id,
            "image": f"{base}/{folder}/{product.id}.jpg", "color": product.colour, "category": product.category,
            "offers": {"@type": "Offer", "price": "19.99", "priceCurrency": "EUR"}}


def _render(template: str, title: str, **context: Any) -> bytes:
    return TEMPLATES.get_template(template).render(title=title, **context).encode()


class RequestLog(list):
    """Paths the shop served, in order, with the time each arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def record(self, path: str) -> None:
        self.append(path)
        self.times.append(time.monotonic())

    def times_of(self, path: str) -> list[float]:
        return [t for p, t in zip(self, self.times, strict=True) if p == path]

    def clear(self) -> None:
        super().clear()
        self.times.clear()


class ShopHandler(BaseHTTPRequestHandler):
    catalogue: Catalogue
    log_requests: RequestLog
    delay: float = 0.0  # seconds per response, to make a crawl slow enough to interrupt

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/html; charset=utf-8") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    ROUTES: tuple[tuple[str, str], ...] = (
        (r"/robots\.txt", "_robots"), (r"/sitemap\.xml", "_sitemap"), (r"/", "_home"),
        (r"/c/(?P<category>[\w-]+)", "_category"), (r"/p/(?P<id>\w+)", "_product"),
        (r"/private/p/(?P<id>\w+)", "_private"), (r"/new-arrivals", "_new_arrivals"),
        (r"/api/new-arrivals\.json", "_arrivals_json"), (r"/products\.json", "_products_json"),
        (r"/img/(?P<id>\w+)\.jpg", "_picture"),
        (r"/search/images", "_search"), (r"/search/pic/(?P<key>[\w-]+)\.jpg", "_search_picture"),
        (r"/lists/best-sellers", "_list_article"), (r"/flaky/(?P<id>\w+)\.jpg", "_flaky"),
        (r"/shop", "_storefront"), (r"/static/(?P<name>[\w-]+)\.(?:png|gif)", "_icon"),
        (r"/static/(?P<name>[\w-]+\.(?:js|css))", "_static"),
    )

    def do_GET(self) -> None:  # http.server's name
        url = urlsplit(self.path)
        self.log_requests.record(self.path)
        time.sleep(self.delay)
        self.query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.base = f"http://{self.headers.get('Host', '127.0.0.1')}"
        self.by_id = {p.id: p for p in self.catalogue.products}
        for pattern, method in self.ROUTES:
            found = re.fullmatch(pattern, url.path)
            if found:
                getattr(self, method)(**found.groupdict())
                return
        self._not_found()

    def _not_found(self) -> None:
        self._send(404, _render("base.html", "Not found", message="not found"))

    def _number(self, name: str, default: int) -> int:
        value = self.query.get(name, "")
        return int(value) if value.isdigit() and int(value) > 0 else default

    def _robots(self) -> None:
        self._send(200, f"User-agent: *\nDisallow: /private/\nSitemap: {self.base}/sitemap.xml\n".encode(),
                   "text/plain")

    def _sitemap(self) -> None:
        locs = "".join(f"<url><loc>{self.base}/p/{p.id}</loc></url>" for p in self.catalogue.listed())
        body = ("<?xml version='1.0' encoding='UTF-8'?>"
                f"<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>{locs}</urlset>")
        self._send(200, body.encode(), "application/xml")

    def _home(self) -> None:
        categories = sorted({p.category for p in self.catalogue.listed()})
        self._send(200, _render("home.html", "Test shop", categories=categories))

    def _category(self, category: str) -> None:
        page = self._number("page", 1)
        products = [p for p in self.catalogue.listed() if p.category == category]
        chunk = products[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        next_page = page + 1 if page * PAGE_SIZE < len(products) else None
        self._send(200 if chunk else 404,
                   _render("category.html", category, category=category, products=chunk, next_page=next_page))

    def _product_page(self, product: Product, title: str) -> None:
        self._send(200, _render("product.html", title, product=product, json_ld=_json_ld(product, self.base)))

    def _product(self, id: str) -> None:
        product = self.by_id.get(id)
        if product is None or product.kind in ("private", "js"):
            return self._not_found()
        self._product_page(product, product.name)

    def _private(self, id: str) -> None:
        product = self.by_id.get(id)
        if product is None or product.kind != "private":
            return self._not_found()
        self._product_page(product, "staff only")

    def _new_arrivals(self) -> None:
        self._send(200, _render("new_arrivals.html", "New arrivals"))

    def _arrivals_json(self) -> None:
        items = [_json_ld(p, self.base) for p in self.catalogue.products if p.kind == "js"]
        self._send(200, json.dumps(items).encode(), "application/json")

    def _products_json(self) -> None:
        page, limit = self._number("page", 1), self._number("limit", 30)
        chunk = self.catalogue.listed()[(page - 1) * limit: page * limit]
        products = [{"id": p.id, "title": p.name, "product_type": p.category, "tags": [p.colour, "sale"],
                     "options": [{"name": "Color", "values": [p.colour.title()]}],
                     "images": [{"src": f"{self.base}/img/{p.id}.jpg"}]} for p in chunk]
        self._send(200, json.dumps({"products": products}).encode(), "application/json")

    def _picture(self, id: str) -> None:
        product = self.by_id.get(id)
        if product is None:
            return self._not_found()
        self._send(200, picture_bytes(product), "image/jpeg")

    def _search(self) -> None:
        """Image results in the shape of a real engine's page (Bing's ``a.iusc`` with JSON in ``m``):
        35 a page, at most SEARCH_CAP per query and time window, SEARCH_WINDOWS windows."""
        try:
            category, colour = parse_term(self.query.get("q", ""))
        except ShopLensError:
            return self._send(400, _render("base.html", "Bad query", message="bad query"))
        first, window = self._number("first", 0), self._number("window", 0)
        if window >= SEARCH_WINDOWS:
            return self._send(200, _render("base.html", "No results", message="no results"))
        count = max(0, min(35, SEARCH_CAP - first))
        results = []
        for index in range(first, first + count):
            key = f"{category}-{colour or 'any'}-{window}-{index}"
            meta = {"murl": f"{self.base}/search/pic/{key}.jpg", "purl": f"{self.base}/p/listing-{key}",
                    "t": f"{colour or ''} {category} photo {index}"}
            results.append({"meta": meta, "thumbnail": f"/search/pic/{key}.jpg"})
        self._send(200, _render("search.html", f"{category} - images", results=results))

    def _search_picture(self, key: str) -> None:
        category, colour, _window, _index = key.rsplit("-", 3)
        if category not in SHAPES:
            return self._not_found()
        seed = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16)
        self._send(200, _draw_picture(category, colour if colour != "any" else "grey", seed, "regular"), "image/jpeg")

    def _list_article(self) -> None:
        rows = ((1, "Summer dresses", "light"), (2, "Linen shirts", "classic"), (3, "Wool jumpers", "warm"))
        self._send(200, _render("best_sellers.html", "Best sellers", rows=rows))

    def _flaky(self, id: str) -> None:
        """A picture that answers 503 twice before it works: for retry tests."""
        product = self.by_id.get(id)
        if product is None:
            return self._not_found()
        attempts = sum(1 for path in self.log_requests if path == self.path)
        if attempts <= 2:
            return self._send(503, b"busy", "text/plain")
        self._send(200, picture_bytes(product), "image/jpeg")

    def _icon(self, name: str) -> None:
        self._send(200, _icon(1 if name == "pixel" else 24), "image/png")

    def _static(self, name: str) -> None:
        path = SITE / "static" / name
        if not path.is_file():
            return self._not_found()
        self._send(200, path.read_bytes(), STATIC_TYPES[path.suffix])

    def _storefront(self) -> None:
        """A storefront as a shopper sees it, for the extension (templates/storefront.html)."""
        products = self.catalogue.listed()[:STOREFRONT_PAGE]
        self._send(200, _render("storefront.html", "Shop", products=products, page_size=STOREFRONT_PAGE))


@lru_cache(maxsize=2)
def _icon(side: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (20, 20, 20)).save(buffer, "PNG")
    return buffer.getvalue()


class ShopServer(ThreadingHTTPServer):
    # The default backlog of 5 drops a crawler's parallel connections, which then wait a
    # second for TCP to retry: the shop would look slow for no reason of its own.
    request_queue_size = 256
    daemon_threads = True


@contextlib.contextmanager
def serve_shop(catalogue: Catalogue, host: str = "127.0.0.1", port: int = 0,
               delay: float = 0.0) -> Iterator[tuple[str, RequestLog]]:
    """Serve `catalogue` in a background thread; yields (base URL, log of requested paths)."""
    requests = RequestLog()
    handler = type("Handler", (ShopHandler,), {"catalogue": catalogue, "log_requests": requests, "delay": delay})
    server = ShopServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}", requests
    finally:
        server.shutdown()
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the ShopLens test shop on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument("--categories", default="dress,shirt,pullover", help="comma-separated (default: %(default)s)")
    parser.add_argument("--colours", default="red,blue,green", help="comma-separated (default: %(default)s)")
    parser.add_argument("--per-label", type=int, default=3, help="products per category x colour")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    catalogue = Catalogue.build(args.categories.split(","), args.colours.split(","), args.per_label, args.seed)
    with serve_shop(catalogue, args.host, args.port) as (url, _):
        print(f"test shop at {url} ({len(catalogue.products)} products; storefront {url}/shop); Ctrl-C stops it",
              flush=True)
        until_interrupted()


def until_interrupted() -> None:
    """Blocks until Ctrl-C (the background threads serve meanwhile)."""
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
