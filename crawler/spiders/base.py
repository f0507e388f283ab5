"""What every ShopLens spider shares: its terms, and turning a product into an item."""

from __future__ import annotations

from typing import Any

import scrapy

from crawler.items import PictureItem
from crawler.terms import Term, match


class TermSpider(scrapy.Spider):
    """A spider whose products are kept only when they match one of its search terms."""

    def __init__(self, terms: list[Term], start_urls: list[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.terms = terms
        self.start_urls = start_urls

    def item_for(self, image_url: str, page_url: str, category: str, colour: str, name: str = "") -> PictureItem | None:
        found = match(self.terms, category, colour, name)
        if found is None:
            self.crawler.stats.inc_value("shoplens/products_without_term")
            return None
        self.crawler.stats.inc_value("shoplens/products_found")
        return PictureItem(image_url=image_url, page_url=page_url, query=found.query, category=found.category,
                           colour=found.colour or "")
