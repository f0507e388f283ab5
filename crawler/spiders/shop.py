"""Shops: product pages with structured data (JSON-LD, microdata, RDFa, OpenGraph).

Starting from the shop's pages and its sitemaps (through Scrapy's SitemapSpider: the
``Sitemap:`` lines of robots.txt and ``/sitemap.xml``, sitemap indexes, gzip, child
sitemaps with query strings, ``alternate`` links left out), the spider follows same-site
links (category pages and their pagination included) and reads every product the page's
structured data describes (``crawler.structured``). Offsite filtering applies to pages
only: pictures come from whatever host the product data names (a CDN, usually). Pages
matching ``js_pages`` (a regular expression) are rendered in headless Chromium first,
for products that exist only after JavaScript runs.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.http import Response, TextResponse
from scrapy.spiders import SitemapSpider

from crawler.spiders.base import TermSpider
from crawler.structured import page_products


class ShopSpider(TermSpider, SitemapSpider):
    name = "shop"
    sitemap_alternate_links = False  # other-language copies of the same products

    def __init__(self, *args: Any, js_pages: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.js_pages = re.compile(js_pages) if js_pages else None
        self.allowed_domains = sorted({urlsplit(url).hostname or "" for url in self.start_urls})
        self.sitemap_urls = [urljoin(url, path) for url in self.start_urls for path in ("/robots.txt", "/sitemap.xml")]

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for url in self.start_urls:
            yield self._request(url)
        async for request in super().start():
            yield request

    def _request(self, url: str) -> scrapy.Request:
        render = bool(self.js_pages and self.js_pages.search(url))
        return scrapy.Request(url, callback=self.parse, meta={"selenium": render})

    def _parse_sitemap(self, response: Response) -> Iterable[scrapy.Request]:
        """Scrapy's sitemap reading; the pages it lists go through the JavaScript rule too."""
        for request in super()._parse_sitemap(response):
            yield self._request(request.url) if request.callback == self.parse else request

    def parse(self, response: Response) -> Iterator[Any]:
        if not isinstance(response, TextResponse):
            return
        try:
            data = page_products(response.body, response.url)
        except Exception:  # a page whose data breaks the reader still gives its links
            self.logger.warning("structured data unreadable on %s", response.url, exc_info=True)
            self.drop("parse_error")
        else:
            for _ in range(data.parse_errors):
                self.drop("parse_error")
            yield from self.product_items(data.products, response.url)
        for href in response.css("a::attr(href)").getall():
            url = response.urljoin(href)
            if urlsplit(url).scheme in ("http", "https"):
                yield self._request(url)  # Scrapy's offsite filter keeps the crawl on the shop's pages
