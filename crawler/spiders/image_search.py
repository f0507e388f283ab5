"""A search engine's image results, one query per term: the query text is the label.

Each engine has its own results parser: Bing's result page (``a.iusc`` links carrying
JSON in their ``m`` attribute, ``first`` as the offset) and DuckDuckGo's ``i.js`` JSON
(which needs the ``vqd`` token its first page carries, and gives the next page's path).
Engines stop answering a query after a fixed number of results and then repeat
themselves, so a query moves on when a page brings nothing new, not only when a page
is empty: to the next time window, where the template has ``{window}``. Windows are the
engine's real date filters: one calendar year each for Bing (its custom date range,
days since 1970 as its own pages write it), DuckDuckGo's past year/month/week/day.
The spider stops a term at ``wanted`` candidates (a margin above the per-term cap,
since the pipeline drops duplicates and broken pictures).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from datetime import date
from typing import Any
from urllib.parse import quote, quote_plus, urljoin

import scrapy
from scrapy.http import Response

from crawler import tally
from crawler.items import PictureItem
from crawler.spiders.base import TermSpider
from crawler.terms import Term

OVERSAMPLE = 1.5
EPOCH = date(1970, 1, 1)
VQD = re.compile(r"""vqd\s*[=:]\s*["']?([\d-]+)""")


def bing_windows(years: int, today: date | None = None) -> list[str]:
    """Bing's custom date range filter for each of the last `years` calendar years, newest first."""
    year = (today or date.today()).year
    spans = [(date(y, 1, 1), date(y, 12, 31)) for y in range(year, year - years, -1)]
    return [quote(f'ex1:"ez5_{(a - EPOCH).days}_{(b - EPOCH).days}"') for a, b in spans]


DUCKDUCKGO_WINDOWS = ["", "time:Year", "time:Month", "time:Week", "time:Day"]  # unfiltered first


class Bing:
    filter_in_template = True  # the date filter goes where the template says {window}
    url = "https://www.bing.com/images/async?q={query}&first={offset}&count=35&filters={window}"

    @staticmethod
    def windows(count: int) -> list[str]:
        return ["", *bing_windows(count - 1)]  # unfiltered first

    @staticmethod
    def first(template: str, term: Term, window: str) -> str:
        return template.format(query=quote_plus(term.query), offset=0, window=window)

    @staticmethod
    def results(response: Response) -> list[tuple[str, str]]:
        found = []
        for raw in response.css("a.iusc::attr(m)").getall():
            try:
                meta = json.loads(raw)
            except ValueError:
                continue
            if isinstance(meta, dict) and meta.get("murl"):
                found.append((response.urljoin(meta["murl"]), response.urljoin(meta.get("purl") or response.url)))
        return found

    @staticmethod
    def next_url(template: str, response: Response, term: Term, window: str, offset: int) -> str | None:
        return template.format(query=quote_plus(term.query), offset=offset, window=window)


class DuckDuckGo:
    filter_in_template = False  # the date filter goes in the i.js request the spider builds
    url = "https://duckduckgo.com/?q={query}&iax=images&ia=images"

    @staticmethod
    def windows(count: int) -> list[str]:
        return DUCKDUCKGO_WINDOWS[:count]

    @staticmethod
    def first(template: str, term: Term, window: str) -> str:
        return template.format(query=quote_plus(term.query), offset=0, window=window)

    @staticmethod
    def results(response: Response) -> list[tuple[str, str]]:
        data = json.loads(response.text)
        return [(response.urljoin(r["image"]), response.urljoin(r.get("url") or response.url))
                for r in data.get("results") or [] if isinstance(r, dict) and r.get("image")]

    @staticmethod
    def next_url(template: str, response: Response, term: Term, window: str, offset: int) -> str | None:
        following = json.loads(response.text).get("next")
        return urljoin(response.url, following) if following else None


ENGINES: dict[str, Any] = {"bing": Bing, "duckduckgo": DuckDuckGo}


class ImageSearchSpider(TermSpider):
    name = "image_search"

    def __init__(self, *args: Any, engine: str = "bing", search_url: str | None = None, wanted: int = 100,
                 windows: int = 8, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.engine = ENGINES[engine]
        self.search_url = search_url or self.engine.url
        self.wanted = int(wanted * OVERSAMPLE)
        filtered = "{window}" in self.search_url or not self.engine.filter_in_template
        self.windows = self.engine.windows(windows) if filtered else [""]
        self.found: dict[str, set[str]] = {term.query: set() for term in self.terms}

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for term in self.terms:
            yield self._first(term, 0)

    def _first(self, term: Term, window: int) -> scrapy.Request:
        url = self.engine.first(self.search_url, term, self.windows[window])
        callback = self.parse_token if self.engine is DuckDuckGo else self.parse
        return scrapy.Request(url, callback=callback, cb_kwargs={"term": term, "window": window, "offset": 0},
                              dont_filter=True)

    def parse_token(self, response: Response, term: Term, window: int, offset: int) -> Iterator[Any]:
        """DuckDuckGo's first page: the vqd token its i.js results need."""
        token = VQD.search(response.text)
        if not token:
            if response.text.lstrip()[:1] in ("{", "["):
                self.logger.error("%s is not a results page (it answers JSON): give the search page's URL, "
                                  "e.g. https://duckduckgo.com/?q={query}&iax=images&ia=images", response.url)
            else:
                self.logger.warning("no vqd token on %s: the engine's page changed", response.url)
            return
        filters = quote(f"{self.windows[window]},,,,,")
        url = urljoin(response.url, f"i.js?l=us-en&o=json&q={quote_plus(term.query)}&vqd={token[1]}&f={filters}&p=1")
        yield scrapy.Request(url, callback=self.parse, cb_kwargs={"term": term, "window": window, "offset": 0})

    def parse(self, response: Response, term: Term, window: int, offset: int) -> Iterator[Any]:
        try:
            results = self.engine.results(response)
        except (ValueError, AttributeError):
            self.logger.warning("unreadable results page %s", response.url)
            results = []
        found = self.found[term.query]
        new = [(image, page) for image, page in results if image not in found]
        for image, page in new:
            found.add(image)
            tally.seen(self.crawler.stats)
            yield PictureItem(source_url=image, page_url=page, query=term.query, category=term.category,
                              colour=term.colour or "", colour_text=term.colour or "")
        if len(found) >= self.wanted:
            return
        following = self.engine.next_url(self.search_url, response, term, self.windows[window],
                                         offset + len(results)) if new else None
        if following:
            yield scrapy.Request(following, callback=self.parse,
                                 cb_kwargs={"term": term, "window": window, "offset": offset + len(results)})
        elif window + 1 < len(self.windows):
            yield self._first(term, window + 1)
