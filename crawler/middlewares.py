"""Downloader middlewares: retries with exponential backoff, and rendering JavaScript pages
in headless Chromium via Selenium 4.

A request with ``meta["selenium"] = True`` is loaded in Chromium, scrolled until the
page stops growing (infinite scroll, lazy lists), and its rendered DOM is returned as
the response. Robots rules and the duplicate filter apply before it, as for any request.
Rendering runs in a worker thread so the crawl's event loop keeps going.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import threading
import time
from typing import Any

from scrapy import signals
from scrapy.downloadermiddlewares.offsite import OffsiteMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.downloadermiddlewares.robotstxt import RobotsTxtMiddleware
from scrapy.http import HtmlResponse, Request
from scrapy.utils.httpobj import urlparse_cached
from twisted.internet import threads

from shoplens.browser import start_chromium


class SeleniumMiddleware:
    def __init__(self, settle_seconds: float, page_timeout: float) -> None:
        self.settle_seconds = settle_seconds
        self.page_timeout = page_timeout
        self.driver: Any = None
        self.profile: str | None = None
        self.lock = threading.Lock()

    @classmethod
    def from_crawler(cls, crawler: Any) -> SeleniumMiddleware:
        middleware = cls(crawler.settings.getfloat("SELENIUM_SETTLE_SECONDS", 8.0),
                         crawler.settings.getfloat("SELENIUM_PAGE_TIMEOUT", 30.0))
        crawler.signals.connect(middleware.close, signal=signals.spider_closed)
        return middleware

    def process_request(self, request: Request) -> Any:
        if not request.meta.get("selenium"):
            return None
        return threads.deferToThread(self._render, request)

    def _render(self, request: Request) -> HtmlResponse:
        with self.lock:  # one browser, one page at a time
            if self.driver is None:
                self.profile = tempfile.mkdtemp(prefix="shoplens-chromium-")
                self.driver = start_chromium(self.profile)
                self.driver.set_page_load_timeout(self.page_timeout)
            self.driver.get(request.url)
            self._settle()
            body = self.driver.page_source.encode("utf-8")
            return HtmlResponse(self.driver.current_url, body=body, encoding="utf-8", request=request,
                                flags=["selenium"])

    def _settle(self) -> None:
        """Scroll to the bottom until the page's height and DOM size stop changing."""
        deadline = time.monotonic() + self.settle_seconds
        last, steady = None, 0
        while time.monotonic() < deadline and steady < 3:
            state = self.driver.execute_script(
                "window.scrollTo(0, document.body.scrollHeight);"
                "return [document.body.scrollHeight, document.getElementsByTagName('*').length,"
                " document.readyState];")
            steady = steady + 1 if state == last and state[2] == "complete" else 0
            last = state
            time.sleep(0.25)

    def close(self) -> None:
        if self.driver is not None:
            self.driver.quit()
            self.driver = None
        if self.profile:
            shutil.rmtree(self.profile, ignore_errors=True)


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retries, each one waiting twice as long as the last (RETRY_BACKOFF_BASE
    seconds first), so a struggling server gets room instead of an instant second hit."""

    def _retry(self, request: Request, reason: Any) -> Request | None:
        retry = super()._retry(request, reason)
        if retry is not None:
            base = self.crawler.settings.getfloat("RETRY_BACKOFF_BASE", 1.0)
            retry.meta["backoff_delay"] = base * 2 ** (retry.meta.get("retry_times", 1) - 1)
        return retry

    async def process_request(self, request: Request) -> None:
        delay = request.meta.get("backoff_delay")
        if delay:
            await asyncio.sleep(delay)


class PagesOffsiteMiddleware(OffsiteMiddleware):
    """Scrapy's offsite filter, for pages only. Pictures (``allow_offsite``, set by the
    picture pipeline) come from any host, and so does the robots.txt of a picture's host,
    which Scrapy's robots middleware fetches for it: without it, a CDN's rules would go
    unread and every picture on it would count as allowed."""

    def should_follow(self, request: Request, spider: Any) -> bool:
        robots = request.meta.get("dont_obey_robotstxt") and urlparse_cached(request).path == "/robots.txt"
        return bool(robots) or super().should_follow(request, spider)


class SettledRobotsTxtMiddleware(RobotsTxtMiddleware):
    """Scrapy's robots.txt middleware, each request judged by the host's parsed rules.

    While a host's robots.txt is being fetched, Scrapy's waiters share one Deferred, and
    under the asyncio reactor only the first of them is handed the parser: the others get
    None, which reads as "no robots.txt", and their requests go through unchecked (seen
    with the pictures of a CDN, all requested at once). After waiting, the rules are read
    from where the middleware settled them."""

    async def robot_parser(self, request: Request) -> Any:
        parser = await super().robot_parser(request)
        settled = self._parsers.get(urlparse_cached(request).netloc)
        return parser if settled is None or hasattr(settled, "addCallback") else settled
