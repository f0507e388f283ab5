"""The demo shop of real photographs (crawler/demoshop.py): its pages are a shop theme's
markup, and the crawler keeps every product picture with the category and colour the shop
sells it as, and none of the shop's other pictures (banner, wordmark, lifestyle scene)."""

import csv
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from extruct.jsonld import JsonLdExtractor

from crawler.demoshop import PAGE_SIZE, SITE, DemoCatalogue, serve_demo_shop
from crawler.structured import page_products
from tests.support import ROOT

CLASSES = "dress,hat,longsleeve,outwear,pants,shirt,shoes,shorts,skirt,t-shirt"
COLOURS = "red,orange,yellow,green,blue,purple,pink,brown,black,grey,white"
MAX_PICTURES, MAX_BYTES = 120, 4_000_000  # what the repository may hold of clothing-small


@pytest.fixture(scope="module")
def demo_shop():
    with serve_demo_shop() as served:
        yield served


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_the_shipped_pictures_are_few_small_and_licensed():
    pictures = [p for p in SITE.rglob("*") if p.suffix in (".jpg", ".png")]
    assert len(pictures) <= MAX_PICTURES and sum(p.stat().st_size for p in pictures) <= MAX_BYTES
    assert "CC0 1.0 Universal" in (SITE / "LICENSE").read_text(encoding="utf-8")
    catalogue = json.loads((SITE / "catalogue.json").read_text(encoding="utf-8"))
    assert all(p["source"].startswith("clothing-small/train/") for p in catalogue["products"])
    assert {p["class"] for p in catalogue["products"]} == set(CLASSES.split(","))


def test_product_pages_carry_json_ld_products_with_offers_and_images(demo_shop):
    shop, cdn = demo_shop
    catalogue = DemoCatalogue.load()
    for product in catalogue.products[:: len(catalogue.products) // 10]:
        url = f"{shop}/products/{product['handle']}"
        html = fetch(url)
        items = JsonLdExtractor().extract(html, base_url=url)
        (offered,) = [item for item in items if item["@type"] == "Product"]
        assert offered["offers"]["price"] == product["price"] and offered["offers"]["priceCurrency"] == "EUR"
        assert offered["image"] == [f"{cdn}/{product['photo']}"] and offered["color"] == product["colour"].title()
        assert any(item["@type"] == "BreadcrumbList" for item in items)
        assert fetch(offered["image"][0])[:2] == b"\xff\xd8"  # a JPEG, from the CDN host
        data = page_products(html, url)
        assert [(p.name, len(p.pictures)) for p in data.products] == [(product["title"], 1)]
    grid = fetch(f"{shop}/collections/all?page=2").decode()
    assert grid.count('loading="lazy"') == PAGE_SIZE and "?page=3" in grid and "?page=1" in grid


def crawl(start: str, out: Path, *extra: str) -> list[dict]:
    command = [sys.executable, "-m", "crawler", "crawl", "--start", start, "--categories", CLASSES,
               "--colours", COLOURS, "--out", str(out), "--no-throttle", *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    with (out / "manifest.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("source", ["shop", "catalogue"])
def test_the_crawler_keeps_every_product_picture_labelled_as_sold(demo_shop, tmp_path, source):
    shop, cdn = demo_shop
    rows = crawl(shop, tmp_path, "--source", source)
    truth = DemoCatalogue.load().truth()
    found = {Path(row["source_url"]).name: (row["category"], row["colour"]) for row in rows}
    assert found == truth  # every product, none of the banner, the wordmark or the lifestyle scene
    assert all(row["source_url"].startswith(cdn) for row in rows)
