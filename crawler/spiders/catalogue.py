"""Stores that publish a public ``/products.json`` catalogue (Shopify's format).

Pages through ``/products.json?page=N`` until a page comes back empty; the product type
is the category text and the colour comes from a Color option or a colour tag.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urljoin

import scrapy
from scrapy.http import Response

from crawler.spiders.base import TermSpider

PAGE_LIMIT = 250


def _colour_text(product: dict[str, Any]) -> str:
    for option in product.get("options") or []:
        if isinstance(option, dict) and str(option.get("name", "")).lower() in ("color", "colour"):
            return " ".join(map(str, option.get("values") or []))
    return " ".join(map(str, product.get("tags") or []))


class CatalogueSpider(TermSpider):
    name = "catalogue"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.start_urls:
            yield self._page(url, 1)

    def _page(self, base: str, page: int) -> scrapy.Request:
        return scrapy.Request(urljoin(base, f"/products.json?limit={PAGE_LIMIT}&page={page}"), callback=self.parse,
                              cb_kwargs={"base": base, "page": page})

    def parse(self, response: Response, base: str, page: int) -> Iterator[Any]:
        try:
            products = json.loads(response.text).get("products") or []
        except (ValueError, AttributeError):
            self.logger.warning("not a products.json catalogue: %s", response.url)
            return
        for product in products:
            images = [i.get("src") for i in product.get("images") or [] if isinstance(i, dict) and i.get("src")]
            if images:
                item = self.item_for(response.urljoin(images[0]), response.url, str(product.get("product_type", "")),
                                     _colour_text(product), str(product.get("title", "")))
                if item:
                    yield item
        if products:
            yield self._page(base, page + 1)
