"""Shops whose product pages carry schema.org Product JSON-LD.

Starting from the shop's front page and its sitemap, the spider follows same-site links
(category pages and their pagination included) and reads every Product it finds in
``<script type="application/ld+json">``. Pages matching ``js_pages`` (a regular
expression) are rendered in headless Chromium first, for products that exist only after
JavaScript runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.http import Response

from crawler.spiders.base import TermSpider


def json_ld_products(response: Response) -> Iterator[dict[str, Any]]:
    """Every schema.org Product object in the page's JSON-LD blocks."""
    for block in response.css('script[type="application/ld+json"]::text').getall():
        try:
            data = json.loads(block)
        except ValueError:
            continue
        stack = data if isinstance(data, list) else [data]
        while stack:
            node = stack.pop()
            if not isinstance(node, dict):
                continue
            kinds = node.get("@type")
            if kinds == "Product" or (isinstance(kinds, list) and "Product" in kinds):
                yield node
            stack.extend(node.get("@graph", []) if isinstance(node.get("@graph"), list) else [])


def _first_image(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("url") or value.get("contentUrl")
    return value if isinstance(value, str) and value else None


class ShopSpider(TermSpider):
    name = "shop"

    def __init__(self, *args: Any, js_pages: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.js_pages = re.compile(js_pages) if js_pages else None
        self.allowed_domains = sorted({urlsplit(url).hostname or "" for url in self.start_urls})

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.start_urls:
            yield self._request(url)
            yield scrapy.Request(urljoin(url, "/sitemap.xml"), callback=self.parse_sitemap)

    def _request(self, url: str) -> scrapy.Request:
        render = bool(self.js_pages and self.js_pages.search(url))
        return scrapy.Request(url, callback=self.parse, meta={"selenium": render})

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        response.selector.remove_namespaces()
        for loc in response.xpath("//url/loc/text() | //sitemap/loc/text()").getall():
            yield scrapy.Request(loc.strip(), callback=self.parse_sitemap) if loc.strip().endswith(".xml") \
                else self._request(loc.strip())

    def parse(self, response: Response) -> Iterator[Any]:
        for product in json_ld_products(response):
            image = _first_image(product.get("image"))
            if image:
                category = product.get("category") or ""
                item = self.item_for(response.urljoin(image), response.url,
                                     category if isinstance(category, str) else " ".join(map(str, category)),
                                     str(product.get("color") or ""), str(product.get("name") or ""))
                if item:
                    yield item
        for href in response.css("a::attr(href)").getall():
            url = response.urljoin(href)
            if urlsplit(url).hostname in self.allowed_domains and urlsplit(url).scheme in ("http", "https"):
                yield self._request(url)
