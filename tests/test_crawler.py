"""Real Scrapy crawls (in subprocesses) of the local test shop, Chromium for the JS page."""

import csv
import hashlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crawler.terms import Term, match, terms_from_lists
from crawler.testshop import Catalogue, picture_bytes, serve_shop

CATEGORIES, COLOURS = ["dress", "shirt", "pullover"], ["red", "blue"]


@pytest.fixture(scope="module")
def shop():
    catalogue = Catalogue.build(CATEGORIES, COLOURS, per_label=3)
    with serve_shop(catalogue) as (url, requests):
        yield catalogue, url, requests


@pytest.fixture(scope="module")
def crawler_cli(root):
    """crawler_cli(*argv): `python -m crawler ARGV` in a fresh process, as a user runs it."""
    def run(*argv: str, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "crawler", *argv], capture_output=True, text=True,
                              timeout=timeout, cwd=root)
    return run


@pytest.fixture(scope="module")
def crawl(crawler_cli):
    """crawl(url, out, *extra): a successful crawl of the test shop's CATEGORIES x COLOURS."""
    def run(url: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
        result = crawler_cli("crawl", "--start", url, "--categories", ",".join(CATEGORIES),
                             "--colours", ",".join(COLOURS), "--out", str(out), "--no-throttle", *extra)
        assert result.returncode == 0, result.stderr[-3000:]
        return result
    return run


def manifest(out: Path) -> list[dict]:
    with (out / "manifest.csv").open() as handle:
        return list(csv.DictReader(handle))


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def expected_sha1s(catalogue: Catalogue, kinds: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    return {sha1(picture_bytes(p)): (p.category, p.colour) for p in catalogue.products if p.kind in kinds}


def test_shop_crawl_keeps_every_product_picture_once(shop, tmp_path, crawl):
    catalogue, url, requests = shop
    requests.clear()
    result = crawl(url, tmp_path, "--js-pages", "/new-arrivals")
    rows = manifest(tmp_path)
    kept = {row["sha1"]: (row["category"], row["colour"]) for row in rows}
    assert len(rows) == len(kept) == len(catalogue.expected())
    expected = expected_sha1s(catalogue, ("regular", "js"))
    near = expected_sha1s(catalogue, ("near_duplicate",))
    first_of_pair = sha1(picture_bytes(catalogue.products[1]))
    # of a near-duplicate pair, whichever arrived first is kept
    assert kept in (expected, {**{k: v for k, v in expected.items() if k != first_of_pair}, **near})
    for row in rows:
        stored = tmp_path / row["path"]
        assert stored.parent == tmp_path / row["category"] / row["colour"]
        assert sha1(stored.read_bytes()) == row["sha1"] and row["query"] == f"{row['colour']} {row['category']}"
    assert "dropped duplicate=1, near_duplicate=1, not_an_image=1, truncated=1" in result.stdout
    assert not [path for path in requests if path.startswith("/private/")]  # robots.txt obeyed


def test_javascript_products_are_found_only_through_selenium(shop, tmp_path, crawl):
    catalogue, url, _ = shop
    crawl(url, tmp_path)
    kept = {row["sha1"] for row in manifest(tmp_path)}
    js = set(expected_sha1s(catalogue, ("js",)))
    assert not kept & js and len(kept) == len(catalogue.expected()) - len(js)


def test_catalogue_spider_reads_products_json(shop, tmp_path, crawl):
    catalogue, url, _ = shop
    result = crawl(url, tmp_path, "--source", "catalogue")
    assert len(manifest(tmp_path)) == len([p for p in catalogue.products if p.kind == "regular"])
    assert "not_an_image=1, truncated=1" in result.stdout


def test_per_term_cap(shop, tmp_path, crawl):
    _, url, _ = shop
    crawl(url, tmp_path, "--source", "catalogue", "--per-term", "2")
    per_term: dict[str, int] = {}
    for row in manifest(tmp_path):
        per_term[row["query"]] = per_term.get(row["query"], 0) + 1
    assert per_term and max(per_term.values()) == 2 and len(per_term) == 6


def test_term_matching():
    terms = terms_from_lists(["dress", "shirt"], ["red"])
    assert match(terms, ["Clothing > Dresses"], "Red").term == Term("dress", "red")
    assert match(terms, ["", "Red shirt with buttons"], "", "Red shirt with buttons").term == Term("shirt", "red")
    assert match(terms, ["dress"], "blue") == "no_matching_term"
    assert match(terms, ["dress"], "") == "no_colour"
    assert match(terms_from_lists(["dress"], []), ["dress"], "anything").term == Term("dress", None)


def test_bad_crawl_input_is_one_clear_line(tmp_path, crawler_cli):
    empty = tmp_path / "terms.txt"
    empty.write_text("# nothing\n")
    for argv in (["crawl"], ["crawl", "--start", "http://127.0.0.1:9", "--terms", str(empty)],
                 ["crawl", "--start", "http://127.0.0.1:9", "--categories", ""]):
        result = crawler_cli(*argv, timeout=60)
        assert result.returncode == 2 and result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_interrupted_crawl_resumes_to_the_same_set(tmp_path, crawl, root):
    """Stopped midway (SIGINT, as Ctrl-C) and rerun with the same --jobdir: same pictures, none twice."""
    catalogue = Catalogue.build(CATEGORIES, COLOURS, per_label=6, seed=3)
    with serve_shop(catalogue, delay=0.2) as (url, requests):
        whole = tmp_path / "whole"
        crawl(url, whole, "--source", "catalogue")
        parts, jobdir = tmp_path / "parts", tmp_path / "job"
        command = [sys.executable, "-m", "crawler", "crawl", "--start", url, "--categories", ",".join(CATEGORIES),
                   "--colours", ",".join(COLOURS), "--out", str(parts), "--jobdir", str(jobdir), "--source", "shop"]
        process = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_rows_or_empty(parts)) < 5:
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
        first = len(_rows_or_empty(parts))
        assert 5 <= first < len(manifest(whole))
        requests.clear()
        crawl(url, parts, "--jobdir", str(jobdir), "--source", "shop")
        pictures_again = [p for p in requests if p.startswith("/img/")]
    rows = manifest(parts)
    assert len({r["sha1"] for r in rows}) == len(rows)
    # of the near-duplicate pair, whichever arrived first is kept: count them as one picture
    by_id = {p.id: p for p in catalogue.products}
    same = {sha1(picture_bytes(by_id["near0001"])): sha1(picture_bytes(by_id["p00001"]))}
    assert {same.get(r["sha1"], r["sha1"]) for r in rows} == {same.get(r["sha1"], r["sha1"]) for r in manifest(whole)}
    assert len(pictures_again) <= len(catalogue.products) - first  # kept pictures are not fetched again


def _rows_or_empty(out: Path) -> list[dict]:
    return manifest(out) if (out / "manifest.csv").is_file() else []


def test_two_processes_sharing_redis_fetch_each_page_once(redis_server, tmp_path, root):
    catalogue = Catalogue.build(CATEGORIES, COLOURS, per_label=6, seed=5)
    with serve_shop(catalogue, delay=0.3) as (url, requests):  # slow enough for both to get work
        command = [sys.executable, "-m", "crawler", "crawl", "--start", url, "--categories", ",".join(CATEGORIES),
                   "--colours", ",".join(COLOURS), "--out", str(tmp_path), "--redis", redis_server]
        workers = [subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                   for _ in range(2)]
        outputs = [worker.communicate(timeout=120) for worker in workers]
        assert all(worker.returncode == 0 for worker in workers), outputs
        pages = [p for p in requests if p.startswith(("/p/", "/c/", "/sitemap"))]
    assert len(pages) == len(set(pages)) and len(pages) > len(catalogue.listed())
    kept_per_worker = [int(out.split("total kept ")[1].split(",")[0]) for out, _ in outputs]
    pages_per_worker = [int(out.split("; pages ")[1].split()[0]) for out, _ in outputs]
    assert all(pages > 0 for pages in pages_per_worker), outputs  # both did part of the work
    rows = manifest(tmp_path)
    assert len(rows) == sum(kept_per_worker) == len({r["sha1"] for r in rows})


def test_terms_from_a_table_column(shop, tmp_path, crawler_cli):
    _, url, _ = shop
    out = tmp_path / "terms.txt"
    result = crawler_cli("terms", "--url", url + "/lists/best-sellers", "--table", "1", "--column", "garment",
                         "--colours", "red", "--out", str(out), timeout=60)
    assert result.returncode == 0, result.stderr
    assert out.read_text().splitlines() == ["red dress", "red shirt", "red pullover"]
    bad = crawler_cli("terms", "--url", url + "/lists/best-sellers", "--table", "5", timeout=60)
    assert bad.returncode == 2 and "there is no table 5" in bad.stderr


def test_retries_back_off_exponentially(tmp_path, crawl):
    catalogue = Catalogue.build(CATEGORIES, COLOURS, per_label=1, flaky=True)
    with serve_shop(catalogue) as (url, requests):
        crawl(url, tmp_path)
        times = requests.times_of("/flaky/flaky0001.jpg")
    assert len(times) == 3  # two 503 answers, then the picture
    assert times[1] - times[0] >= 0.9 and times[2] - times[1] >= 1.9  # 1 s, then 2 s (RETRY_BACKOFF_BASE 1)
    assert any(row["path"].startswith("pullover/blue/") for row in manifest(tmp_path))
