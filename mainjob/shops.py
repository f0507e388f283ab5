"""The shops the main job runs against, each a local process: the demo shop of real
photographs (``crawler.demoshop``, the default) and the drawn test shop (``crawler.testshop``,
fast, for tests). Each knows its pages, how the crawler should read it, and what it sells."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

from crawler.demoshop import PAGE_SIZE, DemoCatalogue
from shoplens.processes import LocalProcess, free_port
from shoplens.vocab import COLOURS

# every class the demo shop sells (the starter's ten), and every base colour
DEMO_CATEGORIES = ",".join(sorted({product["class"] for product in DemoCatalogue.load().products}))
DEMO_COLOURS = ",".join(COLOURS)


class Shop(LocalProcess):
    """A shop the job starts; `truth` is what it sells, by the key its labelled pictures have."""

    js_pages = ""  # the crawler's --js-pages for it
    storefront: tuple[str, ...] = ()  # the pages a shopper browses, labelled by the extension

    def __init__(self, args: argparse.Namespace, log: Path) -> None:
        super().__init__(log)
        self.args, self.port = args, free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pictures(self) -> str:
        """Where its pictures are served from."""
        return self.url

    def ready(self) -> bool:
        with urllib.request.urlopen(self.url + "/", timeout=1) as response:
            return response.status == 200

    def truth(self) -> dict[str, str]:
        raise NotImplementedError


class DemoShop(Shop):
    name = "the demo shop"
    js_pages = "/collections/new-arrivals"

    def __init__(self, args: argparse.Namespace, log: Path) -> None:
        super().__init__(args, log)
        self.cdn_port = free_port()
        pages = -(-len(DemoCatalogue.load().products) // PAGE_SIZE)
        self.storefront = ("/", *(f"/collections/all?page={n}" for n in range(1, pages + 1)))

    @property
    def pictures(self) -> str:
        return f"http://127.0.0.2:{self.cdn_port}"  # its CDN, another host as every real shop's

    def command(self) -> list[str]:
        return [sys.executable, "-m", "crawler.demoshop", "--port", str(self.port), "--cdn-port", str(self.cdn_port)]

    def truth(self) -> dict[str, str]:
        """Picture file name -> "category · colour" as the shop sells it."""
        return {name: f"{category} · {colour}" for name, (category, colour) in DemoCatalogue.load().truth().items()}


class TestShop(Shop):
    name = "the test shop"
    js_pages = "/new-arrivals"
    storefront = ("/shop",)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "crawler.testshop", "--port", str(self.port), "--categories",
                self.args.categories, "--colours", self.args.colours, "--per-label", str(self.args.per_label)]

    def truth(self) -> dict[str, str]:
        """Card id -> "category · colour" as the test shop lists its products."""
        with urllib.request.urlopen(f"{self.url}/products.json?limit=1000", timeout=10) as response:
            products = json.loads(response.read())["products"]
        return {p["id"]: f"{p['product_type']} · {p['tags'][0]}" for p in products}
