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

from crawler import tally
from crawler.page import canonical_url, gallery, html_breadcrumb, main_picture, page_colour
from crawler.spiders.base import TermSpider
from crawler.structured import PageData, Picture, Product, page_products


class ShopSpider(TermSpider, SitemapSpider):
    name = "shop"
    sitemap_alternate_links = False  # other-language copies of the same products

    def __init__(self, *args: Any, js_pages: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.js_pages = re.compile(js_pages) if js_pages else None
        self.allowed_domains = sorted({urlsplit(url).hostname or "" for url in self.start_urls})
        self.sitemap_urls = [urljoin(url, path) for url in self.start_urls for path in ("/robots.txt", "/sitemap.xml")]
        self.pages_read: set[str] = set()  # canonical addresses whose products were read

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
            yield from self._page_items(data, response)
        for href in response.css("a::attr(href)").getall():
            url = response.urljoin(href)
            if urlsplit(url).scheme in ("http", "https"):
                yield self._request(url)  # Scrapy's offsite filter keeps the crawl on the shop's pages

    def _page_items(self, data: PageData, response: TextResponse) -> Iterator[Any]:
        """The page's products under its canonical address, read once whatever address
        reached it; a lone product takes the colour the page shows when its data names none."""
        address = canonical_url(response.selector, data.products, response.url)
        if address in self.pages_read:
            self.crawler.stats.inc_value(tally.PAGES_REPEATED)
            return
        self.pages_read.add(address)
        products = data.products
        if not data.structured:
            self.crawler.stats.inc_value(tally.PAGES_WITHOUT_DATA)
            lone = main_picture(response.selector, response.url)
            products = [lone] if lone else []
        if len(products) == 1:
            self._from_page(products[0], response)
        context = data.breadcrumb or html_breadcrumb(response.selector)
        yield from self.product_items(products, address, context, data.language)

    def _from_page(self, product: Product, response: TextResponse) -> None:
        """A product page's lone product, completed from the page: its gallery's pictures, and
        the colour the page shows where its data names none."""
        listed = {picture.url for picture in product.pictures}
        colour = (product.colour_text, product.colour_source)
        if not product.colour_text:
            colour = page_colour(response.selector, response.url, self.words)
        product.pictures += [Picture(url, "", "") for url in gallery(response.selector, product, response.url)
                             if url not in listed]
        for picture in product.pictures:
            if not picture.colour_text:
                picture.colour_text, picture.colour_source = colour
