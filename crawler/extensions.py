"""A progress line on stderr while a crawl runs: pages, kept and dropped pictures, rate."""

from __future__ import annotations

import sys
import time
from typing import Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from twisted.internet import task

from shoplens.settings import PROGRESS_SECONDS


class Progress:
    def __init__(self, stats: Any, interval: float) -> None:
        self.stats, self.interval = stats, interval
        self.started = time.monotonic()
        self.loop: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Any) -> Progress:
        interval = crawler.settings.getfloat(PROGRESS_SECONDS.name, PROGRESS_SECONDS.default)
        if interval <= 0:
            raise NotConfigured
        extension = cls(crawler.stats, interval)
        crawler.signals.connect(extension.opened, signal=signals.spider_opened)
        crawler.signals.connect(extension.closed, signal=signals.spider_closed)
        return extension

    def opened(self) -> None:
        self.started = time.monotonic()
        self.loop = task.LoopingCall(self.report)
        self.loop.start(self.interval, now=False)

    def report(self) -> None:
        stats = self.stats.get_stats()
        dropped = sum(v for k, v in stats.items() if k.startswith("shoplens/dropped/"))
        pages, kept = stats.get("response_received_count", 0), stats.get("shoplens/kept", 0)
        seconds = max(time.monotonic() - self.started, 1e-9)
        print(f"crawl: {pages} responses, {kept} pictures kept, {dropped} dropped "
              f"({pages / seconds:.1f} responses/s, {kept / seconds:.1f} pictures/s)", file=sys.stderr, flush=True)

    def closed(self) -> None:
        if self.loop and self.loop.running:
            self.loop.stop()
