"""Real Scrapy crawls of product pages in shapes the crawler was not written against
(tests/fixtures/unseen/README.md names the shop each shape comes from): boots named by
their style, lower-case types, Arabic, German and Japanese names, colour only in a swatch
or the page's product JSON, one page under several addresses, Shopify's string tags, and a
page with no structured data at all."""

import json

import pytest

from tests.sites import serve_sites
from tests.support import ROOT
from tests.test_crawler_real_shops import crawl, manifest, picture_label

FIXTURE = ROOT / "tests" / "fixtures" / "unseen"
TERMS = ("--categories", "shoes,dress,t-shirt,shirt,pants,hat,pullover", "--colours", "black,white,red,blue,grey")


@pytest.fixture(scope="module")
def sites():
    with serve_sites(FIXTURE) as served:
        yield served


@pytest.fixture(scope="module")
def shop_crawl(sites, tmp_path_factory):
    shop, _, _ = sites
    out = tmp_path_factory.mktemp("unseen")
    result = crawl(shop, out, *TERMS)
    rows = {row["source_url"].rsplit("/", 1)[-1].split("?")[0]: row for row in manifest(out)}
    return result, rows, json.loads((out / "crawl-stats.json").read_text()), out


def test_every_product_is_kept_with_the_label_its_page_gives(shop_crawl):
    _, rows, stats, _ = shop_crawl
    sources = {name: row["colour_source"] for name, row in rows.items()}
    assert sources == {
        "shoes-black-701.jpg": "structured_data",  # "Over-the-knee boots" are shoes
        "shoes-black-702.jpg": "structured_data",  # "Stiefelette", colour "schwarz"
        "dress-black-703.jpg": "structured_data",  # "@type": "product"
        "tee-black-704.jpg": "structured_data",  # تيشيرت بشعار, أسود
        "pants-black-705.jpg": "structured_data",  # タックワイドパンツ, ブラック
        "shirt-blue-706.jpg": "name",  # "Jeanshemd - blau"
        "dress-white-707.jpg": "swatch",  # Zara: the selected swatch's "Ecru white"
        "dress-red-708.jpg": "name",
        "shirt-white-709.jpg": "structured_data",
        "shoes-red-710.jpg": "structured_data",  # OFLEKI, a boot by its breadcrumb
        "pullover-blue-714.jpg": "product_json",  # Shopify: the product JSON's "Navy"
        "pants-grey-713.jpg": "name",  # no structured data: #landingImage, #productTitle
    }
    for name, row in rows.items():
        assert (row["category"], row["colour"]) == picture_label(name), row
    assert (stats["seen"], stats["kept"], stats["dropped"]) == (12, 12, {})


def test_a_page_under_several_addresses_keeps_one_file_and_one_row(shop_crawl):
    result, rows, stats, out = shop_crawl
    files = [p for p in out.rglob("*.jpg")]
    assert len(files) == len(rows) == stats["kept"]  # kept means a file on disk, a row each
    assert all(row["path"] and row["sha1"] and int(row["bytes"]) > 0 for row in rows.values())
    assert rows["dress-red-708.jpg"]["page_url"].endswith("/wrap-dress.html")
    assert rows["shirt-white-709.jpg"]["page_url"].endswith("/linen-shirt.html")  # its canonical address
    assert stats["pages_repeated"] == 1  # linen-shirt.html?piid=2, canonically the page already read
    assert stats["pictures_repeated"] == 3  # wrap-dress.html?v=1..3 name the dress again
    assert stats["pages_without_structured_data"] == 3  # the index, help.html and the Amazon-like page
    assert "3 without structured data, 1 repeated" in result.stdout


def test_shopify_string_tags_and_a_lone_title_option_give_the_colour(sites, tmp_path):
    shop, _, _ = sites
    crawl(shop, tmp_path, "--source", "catalogue", *TERMS)
    rows = {row["source_url"].rsplit("/", 1)[-1].split("?")[0]: row for row in manifest(tmp_path)}
    assert {name: (row["category"], row["colour"], row["colour_source"]) for name, row in rows.items()} == {
        "hat-grey-711.jpg": ("hat", "grey", "tags"), "shirt-red-712.jpg": ("shirt", "red", "variant")}
