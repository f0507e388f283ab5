"""A search engine's image results, one query per term: the query text is the label.

``search_url`` is a template with ``{query}``, ``{offset}`` and optionally ``{window}``
(a time window such as a date filter). Engines stop answering a query after a fixed
number of results; the spider pages by offset until a page comes back empty, then moves
to the next window, until it has ``wanted`` candidates for the term (a margin above the
per-term cap, since the pipeline drops duplicates and broken pictures).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote_plus

import scrapy
from scrapy.http import Response

from crawler import tally
from crawler.items import PictureItem
from crawler.spiders.base import TermSpider
from crawler.terms import Term

BING_LIKE = "https://www.bing.com/images/async?q={query}&first={offset}&count=35"
OVERSAMPLE = 1.5


class ImageSearchSpider(TermSpider):
    name = "image_search"

    def __init__(self, *args: Any, search_url: str = BING_LIKE, wanted: int = 100, windows: int = 8,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.search_url = search_url
        self.wanted = int(wanted * OVERSAMPLE)
        self.windows = windows if "{window}" in search_url else 1
        self.found: Counter[str] = Counter()

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for term in self.terms:
            yield self._page(term, window=0, offset=0)

    def _page(self, term: Term, window: int, offset: int) -> scrapy.Request:
        url = self.search_url.format(query=quote_plus(term.query), offset=offset, window=window)
        return scrapy.Request(url, callback=self.parse, cb_kwargs={"term": term, "window": window, "offset": offset})

    def parse(self, response: Response, term: Term, window: int, offset: int) -> Iterator[Any]:
        results = []
        for raw in response.css("a.iusc::attr(m)").getall():
            try:
                results.append(json.loads(raw))
            except ValueError:
                continue
        for result in results:
            if isinstance(result, dict) and result.get("murl"):
                self.found[term.query] += 1
                tally.seen(self.crawler.stats)
                yield PictureItem(source_url=response.urljoin(result["murl"]),
                                  page_url=response.urljoin(result.get("purl") or response.url),
                                  query=term.query, category=term.category, colour=term.colour or "",
                                  colour_text=term.colour or "")
        if self.found[term.query] >= self.wanted:
            return
        if results:
            yield self._page(term, window, offset + len(results))
        elif window + 1 < self.windows:
            yield self._page(term, window + 1, 0)
