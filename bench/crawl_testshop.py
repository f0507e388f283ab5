"""Benchmark: crawl a local test shop of 2,000+ products with throttling off.

Prints pages/s, pictures/s and the crawler's peak memory. Loopback only; the crawl stops
by itself when the shop is exhausted.

    .venv/bin/python bench/crawl_testshop.py [--per-label 80]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from crawler.testshop import Catalogue, serve_shop

CATEGORIES = ["dress", "shirt", "pullover", "pants", "skirt"]
COLOURS = ["red", "blue", "green", "black", "white"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-label", type=int, default=80, help="products per category x colour")
    parser.add_argument("--source", default="shop", choices=("shop", "catalogue"))
    args = parser.parse_args()
    catalogue = Catalogue.build(CATEGORIES, COLOURS, args.per_label)
    with tempfile.TemporaryDirectory() as out, serve_shop(catalogue) as (url, requests):
        command = [sys.executable, "-m", "crawler", "crawl", "--source", args.source, "--start", url,
                   "--categories", ",".join(CATEGORIES), "--colours", ",".join(COLOURS), "--out", out,
                   "--no-throttle"]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            print(result.stderr[-3000:])
            return 1
        kept = sum(1 for _ in (Path(out) / "manifest.csv").open()) - 1
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    pages = sum(1 for path in requests if not path.startswith("/img/"))
    pictures = len(requests) - pages
    print(f"test shop: {len(catalogue.products)} products ({len(catalogue.expected())} keepable), source {args.source}")
    print(f"crawl wall time {seconds:.1f}s (process start included)")
    print(f"pages fetched {pages}: {pages / seconds:.1f} pages/s")
    print(f"pictures fetched {pictures}, kept {kept}: {pictures / seconds:.1f} pictures/s fetched, "
          f"{kept / seconds:.1f} kept/s")
    print(f"peak memory of the crawler process {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
