"""Real Scrapy crawls of image search engines on loopback (Bing's page markup, DuckDuckGo's
token page and i.js JSON): past the per-query cap through real date filters."""

import csv
import subprocess
import sys
from datetime import date
from urllib.parse import unquote

import pytest

from tests.engines import CAP, VQD, serve_engines
from tests.support import ROOT


@pytest.fixture(scope="module")
def engines():
    with serve_engines() as served:
        yield served


def search(engine: str, template: str, out, per_term: int = 80) -> dict[str, int]:
    command = [sys.executable, "-m", "crawler", "crawl", "--source", "image_search", "--engine", engine,
               "--search-url", template, "--categories", "dress", "--colours", "red,blue",
               "--per-term", str(per_term), "--out", str(out), "--no-throttle"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    per_term_kept: dict[str, int] = {}
    with (out / "manifest.csv").open() as handle:
        for row in csv.DictReader(handle):
            assert row["category"] == "dress" and row["query"] == f"{row['colour']} dress"
            per_term_kept[row["query"]] = per_term_kept.get(row["query"], 0) + 1
    return per_term_kept


def test_bing_moves_to_the_next_calendar_year_when_a_query_repeats_itself(engines, tmp_path):
    url, log = engines
    log.clear()
    kept = search("bing", url + "/images/async?q={query}&first={offset}&count=35&filters={window}", tmp_path)
    assert kept == {"red dress": 80, "blue dress": 80}  # more than the CAP one date filter gives
    pages = [unquote(path) for _, path in log if path.startswith("/images/async") and "q=red+dress" in path]
    year = date.today().year
    this_year = f'ex1:"ez5_{(date(year, 1, 1) - date(1970, 1, 1)).days}_{(date(year, 12, 31) - date(1970, 1, 1)).days}"'
    assert any(this_year in page for page in pages)
    # the unfiltered window: offsets 0, 35, then a page of repeats (nothing new): next window
    unfiltered = [p for p in pages if p.endswith("filters=")]
    assert [p.split("first=")[1].split("&")[0] for p in unfiltered] == ["0", "35", str(CAP)]


def test_duckduckgo_uses_the_token_of_its_first_page(engines, tmp_path):
    url, log = engines
    log.clear()
    kept = search("duckduckgo", url + "/?q={query}&iax=images&ia=images", tmp_path)
    assert kept == {"red dress": 80, "blue dress": 80}
    results = [unquote(path) for _, path in log if path.startswith("/i.js")]
    assert results and all(f"vqd={VQD}" in path for path in results)
    assert any("f=time:Year," in path for path in results)
