"""What every ShopLens spider shares: its terms, turning a product's pictures into items
(each one counted: kept later, or dropped here for a reason), and staying open while a
crawl shared through Redis still has work."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider

from crawler import tally
from crawler.items import PictureItem
from crawler.structured import Product
from crawler.terms import Term, match
from crawler.words import PATH_SEPARATOR, vocabulary
from shoplens import ShopLensError
from shoplens.settings import REDIS_IDLE_SECONDS, VOCABULARY


class TermSpider(scrapy.Spider):
    """A spider whose products are kept only when they match one of its search terms."""

    def __init__(self, terms: list[Term], start_urls: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.terms = terms
        self.start_urls = start_urls

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> TermSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.idle_since = None
        extra = crawler.settings.get(VOCABULARY.name) or VOCABULARY.default
        spider.words = vocabulary(Path(extra) if extra else None)
        spider.offered = set()
        if crawler.settings.get("REDIS_URL"):
            crawler.signals.connect(spider.wait_for_shared_work, signal=signals.spider_idle)
            crawler.signals.connect(spider.note_work, signal=signals.response_received)
        return spider

    def note_work(self) -> None:
        self.idle_since = None

    def wait_for_shared_work(self) -> None:
        """With a shared Redis queue, an empty local queue may fill again from another
        process: stay open until the whole crawl has been quiet for a while."""
        now = time.monotonic()
        self.idle_since = self.idle_since or now
        if now - self.idle_since < self.crawler.settings.getfloat(REDIS_IDLE_SECONDS.name, REDIS_IDLE_SECONDS.default):
            raise DontCloseSpider

    def drop(self, reason: str, query: str = "") -> None:
        tally.seen(self.crawler.stats)
        tally.dropped(self.crawler.stats, reason, query)

    def product_items(self, products: list[Product], page_url: str, context: str = "",
                      language: str = "") -> Iterator[PictureItem]:
        """An item per picture of each product that matches a term, its category read from the
        product's category, then `context` (the page's breadcrumb: the shop's own taxonomy),
        then its name, in the page's `language` where word order matters. A picture named
        again (the same product in two syntaxes, or on another page) is offered once; the
        repeats are counted under ``shoplens/repeated_pictures``, not as pictures seen."""
        for product in products:
            try:
                items = list(self._items(product, page_url, context, language))
            except (ShopLensError, ValueError, TypeError, AttributeError):
                self.logger.warning("unreadable product on %s: %r", page_url, product.name, exc_info=True)
                self.drop("parse_error")
                continue
            yield from items

    def _items(self, product: Product, page_url: str, context: str, language: str) -> Iterator[PictureItem]:
        if not product.pictures:
            self.drop("no_image")
            return
        for picture in product.pictures:
            if picture.url in self.offered:
                self.crawler.stats.inc_value(tally.REPEATED)
                continue
            self.offered.add(picture.url)
            found = match(self.terms, [product.category_text, _without_name(context, product.name), product.name],
                          picture.colour_text, product.name, self.words, language)
            if isinstance(found, str):
                self.drop(found)
                continue
            tally.seen(self.crawler.stats)
            term = found.term
            yield PictureItem(source_url=picture.url, page_url=page_url, query=term.query,
                              category=term.category, colour=term.colour or "",
                              colour_text=picture.colour_text if found.colour_from == "colour" else product.name,
                              colour_source=picture.colour_source if found.colour_from == "colour"
                              else found.colour_from)


def _without_name(breadcrumb: str, name: str) -> str:
    """The breadcrumb less its last part where that is the product itself (H&M's, Amazon's)."""
    parts = breadcrumb.split(PATH_SEPARATOR)
    if parts and name and parts[-1].strip().casefold() in (name.strip().casefold(), ""):
        parts = parts[:-1]
    return PATH_SEPARATOR.join(parts)
