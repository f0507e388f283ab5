"""Command line: ``python -m crawler crawl ...`` / ``shoplens-crawl``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from crawler import tally
from crawler.terms import Term, terms_from_file, terms_from_lists
from shoplens import ShopLensError
from shoplens.cli import run_cli
from shoplens.settings import MAX_DISTANCE, MIN_SIDE, PER_TERM, VOCABULARY

SOURCES = ("shop", "catalogue", "image_search")


def _terms(args: argparse.Namespace) -> list[Term]:
    if args.terms:
        return terms_from_file(Path(args.terms))
    return terms_from_lists([c for c in args.categories.split(",") if c],
                            [c for c in (args.colours or "").split(",") if c])


def crawl_settings(args: argparse.Namespace) -> Any:
    from scrapy.settings import Settings

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    overrides = {"IMAGES_STORE": str(Path(args.out).resolve()), PER_TERM.name: args.per_term,
                 MIN_SIDE.name: args.min_side, MAX_DISTANCE.name: args.max_distance,
                 VOCABULARY.name: str(Path(args.vocabulary).resolve()) if args.vocabulary else "",
                 "ROBOTSTXT_OBEY": not args.ignore_robots, "LOG_LEVEL": args.log_level}
    if args.max_pictures:
        overrides["CLOSESPIDER_ITEMCOUNT"] = args.max_pictures
    if args.jobdir:
        overrides["JOBDIR"] = args.jobdir
    if args.redis:
        # One request queue and one duplicate filter in Redis: every process crawling with the
        # same URL and spider takes pages from the shared queue, and no page is fetched twice.
        overrides.update({"SCHEDULER": "scrapy_redis.scheduler.Scheduler",
                          "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
                          "SCHEDULER_PERSIST": True, "REDIS_URL": args.redis})
    if args.no_throttle:
        overrides.update({"AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 32,
                          "CONCURRENT_REQUESTS": 64})
    settings.setdict(overrides, priority="cmdline")
    return settings


def _manifest_rows(out: Path) -> int:
    from crawler.pipelines import MANIFEST
    from shoplens.manifest import read_manifest

    return len(read_manifest(out / MANIFEST)) if (out / MANIFEST).is_file() else 0


def run_crawl(args: argparse.Namespace) -> dict[str, Any]:
    from scrapy.crawler import CrawlerProcess

    from crawler.spiders.catalogue import CatalogueSpider
    from crawler.spiders.image_search import ImageSearchSpider
    from crawler.spiders.shop import ShopSpider

    terms = _terms(args)
    if args.vocabulary:
        from crawler.words import vocabulary

        vocabulary(Path(args.vocabulary).resolve())  # a broken file fails here, before any page is fetched
    spider = {"shop": ShopSpider, "catalogue": CatalogueSpider, "image_search": ImageSearchSpider}[args.source]
    options: dict[str, Any] = {
        "shop": {"js_pages": args.js_pages},
        "catalogue": {},
        "image_search": {"engine": args.engine, "search_url": args.search_url, "wanted": args.per_term or 100},
    }[args.source]
    if args.source == "image_search":
        if args.search_url and "{query}" not in args.search_url:
            raise ShopLensError("--search-url needs {query} in it")
        if args.search_url and urlsplit(args.search_url).path.endswith("/i.js"):
            raise ShopLensError(f"--search-url {args.search_url} is DuckDuckGo's JSON endpoint, not a results page: "
                                "give the search page, e.g. https://duckduckgo.com/?q={query}&iax=images&ia=images")
    elif not args.start:
        raise ShopLensError("give at least one --start URL")
    process = CrawlerProcess(crawl_settings(args))
    crawler = process.create_crawler(spider)
    process.crawl(crawler, terms=terms, start_urls=args.start, **options)
    process.start()
    stats = crawler.stats.get_stats()
    outcome = tally.report(stats, [t.query for t in terms])
    for line in tally.summary(outcome, args.per_term):
        print(line)
    path = tally.write_stats(Path(args.out), outcome)
    earlier = _manifest_rows(Path(args.out))
    if not outcome["kept"] and earlier:  # a rerun or resume over a finished crawl: the data is there
        print(f"kept no new picture; {args.out} holds {earlier} from earlier runs")
    elif not outcome["kept"]:
        reasons = ", ".join(f"{k}={v}" for k, v in outcome["dropped"].items())
        raise ShopLensError(f"the crawl kept no picture: {outcome['pages']} pages fetched, {outcome['seen']} pictures "
                            f"seen, dropped {reasons or 'none'} (finish reason {outcome['finish_reason']}; {path})")
    return stats


def fetch_page(url: str) -> str:
    """One page, as the crawler would fetch it: robots.txt of its host obeyed (Protego, the
    parser Scrapy uses), the crawler's user agent, bounded in size and time."""
    from urllib.error import HTTPError, URLError
    from urllib.parse import urljoin
    from urllib.request import Request, urlopen

    from protego import Protego

    from crawler.settings import USER_AGENT

    def get(address: str) -> tuple[bytes, str]:
        with urlopen(Request(address, headers={"User-Agent": USER_AGENT}), timeout=20) as response:
            return response.read(5_000_000), response.headers.get_content_charset() or "utf-8"

    try:
        try:
            rules, charset = get(urljoin(url, "/robots.txt"))
            robots = Protego.parse(rules.decode(charset, "replace"))
        except HTTPError as exc:
            if exc.code < 400 or exc.code >= 500:
                raise
            robots = None  # no robots.txt: everything allowed
        if robots is not None and not robots.can_fetch(url, USER_AGENT):
            raise ShopLensError(f"robots.txt of {url} forbids fetching it")
        body, charset = get(url)
    except (URLError, OSError, ValueError) as exc:
        raise ShopLensError(f"cannot fetch {url}: {exc}") from None
    return body.decode(charset, "replace")


def run_terms(args: argparse.Namespace) -> list[Term]:
    """Write a term file from a column of an HTML table on a web page."""
    from crawler.terms import column_from_html_table, terms_from_cells

    page = fetch_page(args.url)
    cells = column_from_html_table(page, args.table, args.column)
    terms = terms_from_cells(cells, [c for c in (args.colours or "").split(",") if c])
    Path(args.out).write_text("".join(f"{t.query}\n" for t in terms), encoding="utf-8")
    print(f"wrote {len(terms)} terms to {args.out}: {', '.join(t.query for t in terms)}")
    return terms


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shoplens-crawl", description="Gather labelled garment pictures.")
    commands = parser.add_subparsers(dest="command", required=True)
    crawl = commands.add_parser("crawl", help="crawl a source into OUT/<category>/<colour>/")
    crawl.add_argument("--source", choices=SOURCES, default="shop")
    crawl.add_argument("--start", action="append", default=[], help="start URL (repeatable)")
    crawl.add_argument("--categories", default="dress,shirt,pullover")
    crawl.add_argument("--colours", default="", help="comma-separated colours; none: categories only")
    crawl.add_argument("--terms", help="file with one term per line, instead of --categories/--colours")
    crawl.add_argument("--out", default="data/crawl", help="picture folder and manifest (default: %(default)s)")
    crawl.add_argument("--per-term", type=int, default=PER_TERM.default, help=PER_TERM.doc)
    crawl.add_argument("--max-pictures", type=int, default=0, help="stop after N kept pictures (0: no cap)")
    crawl.add_argument("--min-side", type=int, default=MIN_SIDE.default, help=MIN_SIDE.doc)
    crawl.add_argument("--max-distance", type=int, default=MAX_DISTANCE.default, help=MAX_DISTANCE.doc)
    crawl.add_argument("--vocabulary", help=VOCABULARY.doc)
    crawl.add_argument("--js-pages", help="regular expression: pages to render in headless Chromium")
    crawl.add_argument("--jobdir", help="Scrapy job folder: kill the crawl and rerun to resume")
    crawl.add_argument("--engine", choices=("bing", "duckduckgo"), default="bing", help="image_search: which engine")
    crawl.add_argument("--search-url", help="image_search: the engine's first-page URL with {query} (Bing also "
                                            "{offset}), and {window} for its date filters (default: the engine's)")
    crawl.add_argument("--redis", help="redis://host:port/db shared by several crawler processes (scale-out)")
    crawl.add_argument("--ignore-robots", action="store_true", help="do not obey robots.txt (your own sites only)")
    crawl.add_argument("--no-throttle", action="store_true", help="no AutoThrottle (benchmarks on loopback)")
    crawl.add_argument("--log-level", default="WARNING")
    crawl.set_defaults(func=run_crawl)

    terms = commands.add_parser("terms", help="make a term file from a column of an HTML table on a page")
    terms.add_argument("--url", required=True)
    terms.add_argument("--table", type=int, default=0, help="which table on the page, from 0 (default: 0)")
    terms.add_argument("--column", default="0", help="header text or index from 0 (default: 0)")
    terms.add_argument("--colours", default="", help="combine each category with these colours")
    terms.add_argument("--out", default="terms.txt")
    terms.set_defaults(func=run_terms)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), argv, "rerun with the same --jobdir to resume")
