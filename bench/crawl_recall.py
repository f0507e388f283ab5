"""Benchmark: how much of what real storefronts publish the shop spider finds, with the right colour.

Crawls two corpora, pictures on a loopback CDN at 127.0.0.2:
- bench/crawl_corpus/: 48 product pages the project wrote in the shapes Shopify Dawn,
  WooCommerce, Magento 2, PrestaShop microdata, Drupal RDFa and quirky JSON-LD pages write;
  it prints recall (products with a picture kept / products present) and colour
  correctness (kept pictures labelled with the colour they show / kept pictures with a colour);
- bench/crawl_corpus_real/: real shop pages saved by other projects' test suites (OTTO,
  H&M, Zalando, Amazon; SOURCES.md names each page's repository and licence), labelled by
  reading the markup (expected.json); it prints products found, gallery pictures kept, colour
  right where the page states one, category right, non-garment products left out, and
  products found per language.
Each figure with n and a 95 % Wilson interval. Then it runs
bench/crawl_testshop.py on this tree and, with --baseline DIR (another checkout, e.g. the
main branch), on that one, in the same run, for pages/s side by side.

    .venv/bin/python bench/crawl_recall.py [--baseline /work/main] [--per-label 80]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the loopback shop and CDN live in tests/sites.py
from shoplens.stats import wilson_interval  # noqa: E402
from tests.sites import PICTURE, serve_sites  # noqa: E402

CORPUS = HERE / "crawl_corpus"
REAL_CORPUS = HERE / "crawl_corpus_real"
CATEGORIES = "dress,shirt,pullover,pants,skirt,t-shirt"
ALL_CATEGORIES = "dress,shirt,pullover,t-shirt,longsleeve,outwear,pants,shorts,skirt,shoes,hat"
COLOURS = "red,orange,yellow,green,blue,purple,pink,brown,black,grey,white"
NOT_GARMENT = "other"  # expected.json's category of a product that is no garment


def crawl_corpus(out: Path, corpus: Path = CORPUS, categories: str = CATEGORIES) -> tuple[float, int, dict]:
    with serve_sites(corpus / "site") as (shop, _, log):
        command = [sys.executable, "-m", "crawler", "crawl", "--start", shop, "--categories", categories,
                   "--colours", COLOURS, "--out", str(out), "--no-throttle"]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
        seconds = time.perf_counter() - started
        pages = sum(1 for host, _ in log if host == "127.0.0.1")
    if result.returncode != 0:
        sys.exit(f"corpus crawl failed: {result.stderr[-2000:]}")
    return seconds, pages, json.loads((out / "crawl-stats.json").read_text())


def testshop_figures(tree: Path, per_label: int) -> str:
    """bench/crawl_testshop.py's output in `tree`, with the CPU seconds it took (shop and crawler
    together): on a shared machine wall-clock pages/s swing with the load, CPU time much less."""
    python = tree / ".venv" / "bin" / "python"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run([str(python if python.exists() else sys.executable), "bench/crawl_testshop.py",
                             "--per-label", str(per_label)], capture_output=True, text=True, timeout=1800, cwd=tree)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        return f"failed: {result.stderr[-1000:]}"
    return f"{result.stdout.strip()}\nCPU time of the benchmark (shop and crawler) {cpu:.1f}s"


def kept_pictures(out: Path) -> dict[str, dict]:
    """Manifest rows by the CDN picture name they were fetched as."""
    with (out / "manifest.csv").open() as handle:
        return {PICTURE.search(row["source_url"].split("?")[0])[0]: row for row in csv.DictReader(handle)}


def _share(label: str, right: int, n: int) -> str:
    return f"{label}: {right}/{n} = {wilson_interval(right, n)}"


def real_corpus_figures() -> list[str]:
    """The real pages' figures (see the module's docstring), one line each."""
    expected = json.loads((REAL_CORPUS / "expected.json").read_text())
    with tempfile.TemporaryDirectory() as folder:
        seconds, pages, stats = crawl_corpus(Path(folder), REAL_CORPUS, ALL_CATEGORIES)
        kept = kept_pictures(Path(folder)) if (Path(folder) / "manifest.csv").is_file() else {}
    category = {"tee": "t-shirt"}
    garments = [p for p in expected if p["category"] != NOT_GARMENT]
    others = [p for p in expected if p["category"] == NOT_GARMENT]
    found = [p for p in garments if any(q["name"] in kept for q in p["pictures"])]
    left_in = [p for p in others if any(q["name"] in kept for q in p["pictures"])]
    gallery = [q["name"] for p in garments for q in p["pictures"] if q.get("role") != "variant"]
    variants = [q["name"] for p in garments for q in p["pictures"] if q.get("role") == "variant"]
    truth = {q["name"]: (category.get(p["category"], p["category"]), q["colour"]) for p in expected
             for q in p["pictures"]}
    stated = [name for name in kept if name in truth and truth[name][1] != "none"]
    languages = sorted({p["language"] for p in garments})
    lines = [f"real corpus: {len(expected)} product pages ({len(garments)} garments, {len(others)} other products), "
             f"{len(truth)} pictures; shops {', '.join(sorted({p['shop'] for p in expected}))}",
             _share("products found (garments with a kept picture)", len(found), len(garments)),
             _share("gallery pictures kept", sum(1 for name in gallery if name in kept), len(gallery)),
             _share("other colours' pictures kept (variant tiles)", sum(1 for name in variants if name in kept),
                    len(variants)),
             _share("colour right where the page states one (kept pictures)",
                    sum(1 for name in stated if kept[name]["colour"] == truth[name][1]), len(stated)),
             _share("category right (kept pictures)",
                    sum(1 for name in kept if name in truth and kept[name]["category"] == truth[name][0]), len(kept)),
             _share("other products left out", len(others) - len(left_in), len(others))]
    for language in languages:
        pages_in = [p for p in garments if p["language"] == language]
        lines.append(_share(f"  products found, {language}", sum(1 for p in pages_in if p in found), len(pages_in)))
    missed = [p["page"] for p in garments if p not in found]
    wrong = [f"{name}: {kept[name]['colour_text']!r} -> {kept[name]['colour']} ({kept[name]['colour_source']})"
             for name in stated if kept[name]["colour"] != truth[name][1]]
    lines += [f"dropped by reason: {stats['dropped'] or 'none'}", f"missed: {missed or 'none'}",
              f"wrong colour: {wrong or 'none'}", f"crawl: {pages} pages in {seconds:.1f}s"]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout to run bench/crawl_testshop.py in too")
    parser.add_argument("--per-label", type=int, default=80, help="test shop size for the throughput runs")
    args = parser.parse_args()
    expected = json.loads((CORPUS / "expected.json").read_text())
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        seconds, pages, stats = crawl_corpus(out)
        kept = kept_pictures(out)
    found = sum(1 for product in expected if any(p["name"] in kept for p in product["pictures"]))
    truth = {p["name"]: (product["category"], p["colour"]) for product in expected for p in product["pictures"]}
    coloured = [name for name, row in kept.items() if row["colour"] and name in truth]
    right = sum(1 for name in coloured if kept[name]["colour"] == truth[name][1])
    right_category = sum(1 for name in kept if name in truth and kept[name]["category"] == truth[name][0])
    print(f"corpus: {len(expected)} product pages, {len(truth)} pictures "
          f"({', '.join(sorted({p['page'].split('/')[0].split('-')[0] for p in expected}))})")
    print(f"recall (products with a kept picture / products present): {found}/{len(expected)} = "
          f"{wilson_interval(found, len(expected))}")
    print(f"colour correctness (kept pictures, right colour / with a colour): {right}/{len(coloured)} = "
          f"{wilson_interval(right, len(coloured))}")
    print(f"category correctness (kept pictures): {right_category}/{len(kept)}")
    missed = [f"{p['page']} ({', '.join(q['name'] for q in p['pictures'])})" for p in expected
              if not any(q["name"] in kept for q in p["pictures"])]
    wrong = [f"{name}: {kept[name]['colour_text']!r} -> {kept[name]['colour']}" for name in coloured
             if kept[name]["colour"] != truth[name][1]]
    print(f"dropped by reason: {stats['dropped'] or 'none'}")
    print(f"missed: {missed or 'none'}; wrong colour: {wrong or 'none'}")
    print(f"corpus crawl: {pages} pages in {seconds:.1f}s (process start included): {pages / seconds:.1f} pages/s")
    print("--- " + "\n".join(real_corpus_figures()))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"--- bench/crawl_testshop.py, this tree ({ROOT}):\n{testshop_figures(ROOT, args.per_label)}")
    if args.baseline:
        print(f"--- bench/crawl_testshop.py, baseline ({args.baseline}):\n"
              f"{testshop_figures(args.baseline, args.per_label)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
