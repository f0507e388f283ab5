"""Real Scrapy crawls of a shop written the way real storefronts write their pages
(Shopify Dawn, WooCommerce, Magento 2, PrestaShop microdata, Drupal RDFa, OpenGraph, the
JSON-LD quirks of real pages), on 127.0.0.1, with its pictures on a CDN at 127.0.0.2."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sites import PICTURE, serve_sites
from tests.support import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "realshops" / "shop"
CATEGORIES = "t-shirt,dress,shirt,pullover,skirt,pants"
COLOURS = "red,blue,black,white,green,grey"


@pytest.fixture(scope="module")
def sites():
    with serve_sites(FIXTURE) as served:
        yield served


def crawl(shop: str, out: Path, *extra: str, expect: int = 0) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "crawler", "crawl", "--start", shop, "--categories", CATEGORIES,
               "--colours", COLOURS, "--out", str(out), "--no-throttle", *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert result.returncode == expect, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def manifest(out: Path) -> list[dict]:
    with (out / "manifest.csv").open() as handle:
        return list(csv.DictReader(handle))


def picture_label(url: str) -> tuple[str, str]:
    """(category, colour) the CDN drew the picture as, from its name."""
    found = PICTURE.search(url.split("?")[0])
    category = {"tee": "t-shirt"}.get(found["category"], found["category"])
    return category, found["colour"]


def test_shop_crawl_finds_every_product_in_every_syntax(sites, tmp_path):
    shop, cdn, log = sites
    log.clear()
    result = crawl(shop, tmp_path)
    rows = manifest(tmp_path)
    stats = json.loads((tmp_path / "crawl-stats.json").read_text())
    dropped = {"duplicate": 2, "http_404": 1, "near_duplicate": 1, "no_colour": 1, "no_image": 1,
               "no_matching_term": 1, "not_an_image": 1, "parse_error": 1, "robots": 1, "too_small": 1, "truncated": 1}
    assert (stats["seen"], stats["kept"], stats["dropped"]) == (37, 25, dropped)
    assert stats["seen"] == stats["kept"] + sum(stats["dropped"].values())  # nothing lost silently
    assert stats["offsite_pages_skipped"] == 4  # the lookbook on another host, gallery links to the CDN
    per_term = {query: row for query, row in stats["terms"].items() if row["kept"] or row["dropped"]}
    assert per_term == {
        "black t-shirt": {"kept": 1, "dropped": {}}, "white t-shirt": {"kept": 1, "dropped": {}},
        "red dress": {"kept": 4, "dropped": {"duplicate": 1, "near_duplicate": 1, "too_small": 1}},
        "blue dress": {"kept": 2, "dropped": {}}, "black dress": {"kept": 1, "dropped": {"duplicate": 1}},
        "white dress": {"kept": 1, "dropped": {}},
        "red shirt": {"kept": 0, "dropped": {"robots": 1}}, "blue shirt": {"kept": 2, "dropped": {}},
        "white shirt": {"kept": 2, "dropped": {}},
        "red pullover": {"kept": 1, "dropped": {}}, "black pullover": {"kept": 2, "dropped": {}},
        "grey pullover": {"kept": 1, "dropped": {}},
        "red skirt": {"kept": 1, "dropped": {}}, "blue skirt": {"kept": 1, "dropped": {"truncated": 1}},
        "black skirt": {"kept": 1, "dropped": {}}, "green skirt": {"kept": 1, "dropped": {}},
        "blue pants": {"kept": 1, "dropped": {}}, "green pants": {"kept": 1, "dropped": {"not_an_image": 1}},
        "grey pants": {"kept": 1, "dropped": {"http_404": 1}},
        "(no term)": {"kept": 0, "dropped": {"no_colour": 1, "no_image": 1, "no_matching_term": 1, "parse_error": 1}},
    }
    assert ("total kept 25, dropped duplicate=2, http_404=1, near_duplicate=1, no_colour=1, no_image=1, "
            "no_matching_term=1, not_an_image=1, parse_error=1, robots=1, too_small=1, truncated=1") in result.stdout
    # every kept picture is on the CDN, labelled with the colour it was drawn in, the shop's words beside it
    assert len(rows) == 25
    for row in rows:
        assert row["source_url"].startswith(cdn) and row["page_url"].startswith(shop)
        assert (row["category"], row["colour"]) == picture_label(row["source_url"]), row
    colour_words = {row["colour_text"] for row in rows}
    assert {"Burgundy", "Forest Green", "Navy", "Ivory", "Heather Grey", "Basic Tee - White / S"} <= colour_words
    # a red and a blue shot of one product are both kept; a resized copy is not
    assert {picture_label(r["source_url"]) for r in rows if "-201" in r["source_url"]} == {("dress", "red"),
                                                                                          ("dress", "blue")}
    paths = [path for host, path in log if host == "127.0.0.1"]
    assert "/sitemap_blogs_1.xml.gz" in paths and "/sitemap_products_1.xml?from=7001&to=9999" in paths
    assert "/blogs/news/lookbook" in paths  # listed only in the gzipped child of the robots.txt sitemap
    assert not [p for p in paths if p.startswith(("/de/", "/private/"))]  # alternates off; robots.txt obeyed
    assert ("127.0.0.2", "/robots.txt") in log and not [p for h, p in log if h == "127.0.0.2" and "/private/" in p]


def test_catalogue_takes_every_image_with_its_variant_colour(sites, tmp_path):
    shop, _, log = sites
    log.clear()
    result = crawl(shop, tmp_path, "--source", "catalogue")
    rows = manifest(tmp_path)
    assert sorted((r["category"], r["colour"], r["colour_text"]) for r in rows) == [
        ("dress", "blue", "Marine"), ("dress", "red", "Bordeaux"), ("shirt", "green", "Olive Green"),
        ("shirt", "green", "Olive Green"), ("t-shirt", "black", "Black"), ("t-shirt", "blue", "Blue"),
        ("t-shirt", "white", "White")]
    for row in rows:
        assert (row["category"], row["colour"]) == picture_label(row["source_url"])
    assert "total kept 7, dropped no_colour=1" in result.stdout  # the grey shot no variant names
    pages = [path for host, path in log if path.startswith("/products.json")]
    assert pages == ["/products.json?limit=250&page=1", "/products.json?limit=250&page=2"]
    again = crawl(shop, tmp_path, "--source", "catalogue")  # the same crawl into the same folder: nothing new
    assert "total kept 0, dropped duplicate=7, no_colour=1" in again.stdout
    assert f"kept no new picture; {tmp_path} holds 7 from earlier runs" in again.stdout


def test_a_crawl_that_keeps_nothing_fails_and_says_why(sites, tmp_path):
    shop, _, _ = sites
    result = crawl(shop, tmp_path, "--source", "catalogue", "--categories", "hat", "--colours", "", expect=2)
    assert result.stderr.startswith("error: the crawl kept no picture:")
    assert "dropped no_matching_term=8" in result.stderr
    assert json.loads((tmp_path / "crawl-stats.json").read_text())["kept"] == 0


def test_terms_from_a_table_with_spanning_cells_keep_every_row(sites, tmp_path):
    shop, _, log = sites
    out = tmp_path / "terms.txt"
    command = [sys.executable, "-m", "crawler", "terms", "--table", "1", "--column", "Garment", "--colours", "red",
               "--out", str(out), "--url"]
    result = subprocess.run([*command, shop + "/pages/size-guide"], capture_output=True, text=True, timeout=60,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    # the rowspan's second row repeats "Dresses"; a row naming no known garment keeps its own words
    assert out.read_text().splitlines() == ["red dress", "red shirt", "red rain-capes", "red pullover"]
    log.clear()
    forbidden = subprocess.run([*command, shop + "/private/staff"], capture_output=True, text=True, timeout=60,
                               cwd=ROOT)
    assert forbidden.returncode == 2 and "robots.txt" in forbidden.stderr and "forbids" in forbidden.stderr
    assert ("127.0.0.1", "/private/staff") not in log
