"""The demo shop: real product photographs (clothing-small, CC0) sold in a shop theme's
markup, on loopback, with its pictures on a second host as a real shop's CDN.

Its catalogue and pictures are in ``demoshop_site/`` (written by scripts/build_demo_shop.py;
sources and licences in its catalogue.json and LICENSE). Pages as a Shopify theme writes
them: a home page with a banner, a lifestyle picture and the shop's wordmark (no garments:
they must get no badge), a collection grid of lazy-loaded cards with titles, prices and
colour swatches over several pages (``?page=N``), product pages with schema.org Product
JSON-LD (offers, images, colour, category) and a BreadcrumbList, a new-arrivals page
whose grid and structured data its own script writes from ``/products.json`` (only a
browser sees them), robots.txt and a sitemap. The pictures answer from the CDN with CORS headers.

    python -m crawler.demoshop --port 8801      # serve until Ctrl-C
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jinja2

from crawler.testshop import ShopServer, until_interrupted

SITE = Path(__file__).resolve().parent / "demoshop_site"
PAGE_SIZE = 24  # cards on a collection page, as Dawn's default
FEATURED = 8
TEMPLATES = jinja2.Environment(loader=jinja2.FileSystemLoader(SITE / "templates"), autoescape=True,
                               undefined=jinja2.StrictUndefined)
PICTURE_TYPES = {".jpg": "image/jpeg", ".png": "image/png"}


@dataclass(frozen=True)
class DemoCatalogue:
    products: tuple[dict[str, str], ...]

    @classmethod
    def load(cls, site: Path = SITE) -> DemoCatalogue:
        return cls(tuple(json.loads((site / "catalogue.json").read_text(encoding="utf-8"))["products"]))

    @cached_property
    def by_handle(self) -> dict[str, dict[str, str]]:
        return {product["handle"]: product for product in self.products}

    def truth(self) -> dict[str, tuple[str, str]]:
        """Picture file name -> (class, colour) as the shop sells it."""
        return {Path(p["photo"]).name: (p["class"], p["colour"]) for p in self.products}


def json_ld(product: dict[str, str], shop: str, cdn: str) -> dict[str, Any]:
    return {"@context": "https://schema.org", "@type": "Product", "name": product["title"], "sku": product["handle"],
            "url": f"{shop}/products/{product['handle']}", "image": [f"{cdn}/{product['photo']}"],
            "color": product["colour"].title(), "category": product["category"],
            "brand": {"@type": "Brand", "name": "ShopLens Demo Store"},
            "offers": {"@type": "Offer", "price": product["price"], "priceCurrency": "EUR",
                       "availability": "https://schema.org/InStock", "url": f"{shop}/products/{product['handle']}"}}


def breadcrumb(product: dict[str, str], shop: str) -> dict[str, Any]:
    trail = [("Home", f"{shop}/"), (product["category"], f"{shop}/collections/all"),
             (product["title"], f"{shop}/products/{product['handle']}")]
    return {"@context": "https://schema.org", "@type": "BreadcrumbList",
            "itemListElement": [{"@type": "ListItem", "position": n, "name": name, "item": url}
                                for n, (name, url) in enumerate(trail, start=1)]}


def catalogue_entry(product: dict[str, str], number: int, cdn: str) -> dict[str, Any]:
    """The product as Shopify's ``/products.json`` lists it."""
    colour = product["colour"].title()
    return {"id": number, "title": product["title"], "handle": product["handle"], "product_type": product["category"],
            "tags": [product["colour"]], "options": [{"name": "Color", "position": 1, "values": [colour]}],
            "variants": [{"id": number * 10, "title": colour, "option1": colour, "price": product["price"]}],
            "images": [{"id": number * 100, "src": f"{cdn}/{product['photo']}", "variant_ids": []}]}


class _Handler(BaseHTTPRequestHandler):
    catalogue: DemoCatalogue
    shop: str
    cdn: str

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, kind: str = "text/html; charset=utf-8",
              headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.send_response(status)
        for name, value in (("Content-Type", kind), ("Content-Length", str(len(body))), *headers):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _page(self, template: str, title: str, status: int = 200, **context: Any) -> None:
        page = TEMPLATES.get_template(template).render(title=title, cdn=self.cdn, canonical="", **context)
        self._send(status, page.encode())


class ShopPages(_Handler):
    ROUTES = ((r"/", "_home"), (r"/collections/all", "_collection"), (r"/collections/new-arrivals", "_new_arrivals"),
              (r"/products/(?P<handle>[\w-]+)", "_product"),
              (r"/products\.json", "_products_json"), (r"/robots\.txt", "_robots"), (r"/sitemap\.xml", "_sitemap"))

    def do_GET(self) -> None:  # http.server's name
        url = urlsplit(self.path)
        self.query = {k: v[0] for k, v in parse_qs(url.query).items()}
        for pattern, method in self.ROUTES:
            found = re.fullmatch(pattern, url.path)
            if found:
                return getattr(self, method)(**found.groupdict())
        self._page("base.html", "Not found", 404, message="Page not found")

    def _number(self, name: str) -> int:
        value = self.query.get(name, "1")
        return int(value) if value.isdigit() and int(value) > 0 else 1

    def _home(self) -> None:
        products = self.catalogue.products
        self._page("home.html", "Home", products=products[:: max(1, len(products) // FEATURED)][:FEATURED])

    def _collection(self) -> None:
        products, page = self.catalogue.products, self._number("page")
        pages = -(-len(products) // PAGE_SIZE)
        chunk = products[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        self._page("collection.html", "Shop all", 200 if chunk else 404, products=chunk, page=page, pages=pages,
                   previous_page=page - 1 if page > 1 else None, next_page=page + 1 if page < pages else None)

    def _new_arrivals(self) -> None:
        self._page("new_arrivals.html", "New arrivals")

    def _product(self, handle: str) -> None:
        product = self.catalogue.by_handle.get(handle)
        if product is None:
            return self._page("base.html", "Not found", 404, message="Product not found")
        page = TEMPLATES.get_template("product.html").render(
            title=product["title"], cdn=self.cdn, canonical=f"{self.shop}/products/{handle}", product=product,
            json_ld=json_ld(product, self.shop, self.cdn), breadcrumb=breadcrumb(product, self.shop))
        self._send(200, page.encode())

    def _products_json(self) -> None:
        limit, page = min(250, self._number("limit") if "limit" in self.query else 30), self._number("page")
        chunk = self.catalogue.products[(page - 1) * limit: page * limit]
        products = [catalogue_entry(p, index, self.cdn) for index, p in enumerate(chunk, start=(page - 1) * limit + 1)]
        self._send(200, json.dumps({"products": products}).encode(), "application/json")

    def _robots(self) -> None:
        self._send(200, f"User-agent: *\nDisallow: /cart\nSitemap: {self.shop}/sitemap.xml\n".encode(), "text/plain")

    def _sitemap(self) -> None:
        urls = "".join(f"<url><loc>{self.shop}/products/{p['handle']}</loc></url>" for p in self.catalogue.products)
        body = ("<?xml version='1.0' encoding='UTF-8'?>"
                f"<urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>{urls}</urlset>")
        self._send(200, body.encode(), "application/xml")


class CdnPictures(_Handler):
    """The pictures, from the second host, with CORS headers and a long cache life, as CDNs answer."""

    def do_GET(self) -> None:  # http.server's name
        path = urlsplit(self.path).path.lstrip("/")
        file = (SITE / path).resolve()
        if not re.fullmatch(r"(photos|others)/[\w.-]+", path) or not file.is_file() or SITE not in file.parents:
            return self._send(404, b"not found", "text/plain")
        self._send(200, file.read_bytes(), PICTURE_TYPES.get(file.suffix, "application/octet-stream"),
                   (("Access-Control-Allow-Origin", "*"), ("Cache-Control", "public, max-age=31536000")))


@contextlib.contextmanager
def serve_demo_shop(host: str = "127.0.0.1", cdn_host: str = "127.0.0.2", port: int = 0,
                    cdn_port: int = 0) -> Iterator[tuple[str, str]]:
    """Serves the demo shop and its CDN in background threads; yields (shop URL, CDN URL)."""
    catalogue = DemoCatalogue.load()
    cdn = ShopServer((cdn_host, cdn_port), type("Handler", (CdnPictures,), {"catalogue": catalogue}))
    cdn_url = f"http://{cdn_host}:{cdn.server_address[1]}"
    shop = ShopServer((host, port), ShopPages)
    shop_url = f"http://{host}:{shop.server_address[1]}"
    shop.RequestHandlerClass = type("Handler", (ShopPages,), {"catalogue": catalogue, "shop": shop_url, "cdn": cdn_url})
    for server in (cdn, shop):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield shop_url, cdn_url
    finally:
        for server in (shop, cdn):
            server.shutdown()
            server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the ShopLens demo shop (real photographs) on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--cdn-host", default="127.0.0.2")
    parser.add_argument("--port", type=int, default=8801)
    parser.add_argument("--cdn-port", type=int, default=8802)
    args = parser.parse_args()
    with serve_demo_shop(args.host, args.cdn_host, args.port, args.cdn_port) as (shop, cdn):
        print(f"demo shop at {shop} (pictures from {cdn}); Ctrl-C stops it", flush=True)
        until_interrupted()


if __name__ == "__main__":
    main()
