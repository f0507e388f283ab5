"""What every ShopLens spider shares: its terms, turning a product into an item, and
staying open while a crawl shared through Redis still has work."""

from __future__ import annotations

import time
from typing import Any

import scrapy
from scrapy import signals
from scrapy.exceptions import DontCloseSpider

from crawler.items import PictureItem
from crawler.terms import Term, match
from shoplens.settings import REDIS_IDLE_SECONDS


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

    def item_for(self, image_url: str, page_url: str, category: str, colour: str, name: str = "") -> PictureItem | None:
        found = match(self.terms, category, colour, name)
        if found is None:
            self.crawler.stats.inc_value("shoplens/products_without_term")
            return None
        self.crawler.stats.inc_value("shoplens/products_found")
        return PictureItem(image_url=image_url, page_url=page_url, query=found.query, category=found.category,
                           colour=found.colour or "")
