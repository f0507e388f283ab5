"""Item pipelines: download-and-clean pictures, then record them in the manifest."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

from itemadapter import ItemAdapter
from PIL import Image
from scrapy import Request
from scrapy.exceptions import DropItem, IgnoreRequest
from scrapy.http import Response
from scrapy.logformatter import LogFormatter
from scrapy.pipelines.images import ImageException, ImagesPipeline

from crawler import tally
from crawler.seen import LocalSeen, PictureHashes, RedisSeen, is_near
from shoplens.imaging import ImageLimits, ImageRejected, colour_hash, decode_image, perceptual_hash
from shoplens.manifest import append_rows, read_manifest
from shoplens.settings import MAX_DISTANCE, MIN_SIDE, PER_TERM

MANIFEST = "manifest.csv"


class PictureDropped(ImageException):
    """A picture not kept; ``reason`` is the key it is counted under."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PicturePipeline(ImagesPipeline):
    """Downloads each item's picture and keeps it only if it is new and sound.

    Kept means written to disk. Drops, counted by reason per term (``crawler.tally``): the
    decoder's reasons (empty, not_an_image, truncated, too_small, ...), duplicate (same SHA-1,
    or the same URL another item already fetched), near_duplicate
    (perceptual and colour hashes both within MAX_DISTANCE bits of a kept picture, across
    all terms: a red and a blue shot of one product are both kept), over_cap (the term
    already has PER_TERM pictures), robots (the picture host's robots.txt forbids it),
    http_<status> and download_failed. Pictures may live on any host: offsite filtering
    is for pages. They are stored as they came, at ``<category>/<colour>/<sha1>.<ext>``.
    """

    LOG_FAILED_RESULTS = False  # rejections are counted in the stats instead

    def __init__(self, store_uri: str, *args: Any, crawler: Any = None, **kwargs: Any) -> None:
        super().__init__(store_uri, *args, crawler=crawler, **kwargs)
        settings = crawler.settings
        self.root = Path(store_uri)
        self.limits = ImageLimits(min_side=settings.getint(MIN_SIDE.name, MIN_SIDE.default))
        self.max_distance = settings.getint(MAX_DISTANCE.name, MAX_DISTANCE.default)
        self.per_term = settings.getint(PER_TERM.name, PER_TERM.default)
        self.stats = crawler.stats
        for name in ("scrapy.pipelines.media", "scrapy.pipelines.files"):
            log = logging.getLogger(name)
            if not any(isinstance(f, QuietRejections) for f in log.filters):
                log.addFilter(QuietRejections())
        redis_url = settings.get("REDIS_URL")
        self.seen = RedisSeen(redis_url, f"shoplens:{self.root.name}") if redis_url else LocalSeen()
        if not redis_url:
            self._load_existing()

    def _load_existing(self) -> None:
        """A resumed crawl knows what earlier runs kept, so nothing is stored twice."""
        manifest = self.root / MANIFEST
        if manifest.is_file():
            for row in read_manifest(manifest):
                hashes = PictureHashes(int(row.get("phash") or "0", 16), int(row.get("colour_hash") or "0", 16))
                self.seen.keep(row.get("sha1", ""), hashes, row.get("query", ""))

    def _full(self, query: str) -> bool:
        return bool(self.per_term) and self.seen.kept(query) >= self.per_term

    def get_media_requests(self, item: Any, info: Any) -> list[Request]:
        adapter = ItemAdapter(item)
        if self._full(adapter["query"]):
            return []
        return [Request(adapter["source_url"], meta={"shoplens_item": True, "allow_offsite": True})]

    async def media_downloaded(self, response: Response, request: Request, info: Any, *, item: Any = None) -> Any:
        if response.status != 200:
            raise PictureDropped(f"http_{response.status}")
        return await super().media_downloaded(response, request, info, item=item)

    def media_failed(self, failure: Any, request: Request, info: Any) -> None:
        """Every failure, a download's or media_downloaded's own, ends as a counted reason."""
        if isinstance(failure.value, PictureDropped):
            raise failure.value
        if not isinstance(failure.value, IgnoreRequest):
            logging.getLogger(__name__).warning("picture %s not downloaded: %r", request.url, failure.value)
        robots = isinstance(failure.value, IgnoreRequest) and "robots" in str(failure.value).lower()
        raise PictureDropped("robots" if robots else "download_failed")

    def file_path(self, request: Request, response: Response | None = None, info: Any = None, *,
                  item: Any = None) -> str:
        adapter = ItemAdapter(item) if item is not None else {}
        if response is None or not adapter.get("sha1"):
            return f"pending/{hashlib.sha1(request.url.encode()).hexdigest()}"  # never stored
        return f"{adapter['category']}/{adapter.get('colour') or 'any'}/{adapter['sha1']}.{adapter['extension']}"

    def get_images(self, response: Response, request: Request, info: Any, *,
                   item: Any = None) -> Iterator[tuple[str, Image.Image, BytesIO]]:
        adapter = ItemAdapter(item)
        body = response.body
        try:
            image = decode_image(body, self.limits)
        except ImageRejected as exc:
            raise PictureDropped(exc.reason) from None
        sha1 = hashlib.sha1(body).hexdigest()
        hashes = PictureHashes(perceptual_hash(image), colour_hash(image))
        if self._full(adapter["query"]):
            raise PictureDropped("over_cap")
        if is_near(hashes, self.seen.all_hashes(), self.max_distance):
            # an exact copy is also within the distance: name it for what it is
            raise PictureDropped("duplicate" if not self.seen.claim(sha1) else "near_duplicate")
        if not self.seen.claim(sha1):
            raise PictureDropped("duplicate")
        self.seen.keep(sha1, hashes, adapter["query"])
        with Image.open(BytesIO(body)) as original:
            extension = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp"}[original.format]
        adapter.update({"sha1": sha1, "phash": f"{hashes.phash:016x}", "colour_hash": f"{hashes.colour:016x}",
                        "width": image.width, "height": image.height,
                        "bytes": len(body), "extension": extension,
                        "fetched_at": datetime.now(UTC).isoformat(timespec="seconds")})
        adapter["path"] = self.file_path(request, response, info, item=item)
        yield adapter["path"], image, BytesIO(body)

    def item_completed(self, results: list, item: Any, info: Any) -> Any:
        adapter = ItemAdapter(item)
        if results and all(ok for ok, _ in results):
            if adapter.get("path") and (self.root / adapter["path"]).is_file():
                tally.kept(self.stats, adapter["query"])
                return item
            # Scrapy answered this item from a download another item already made: its picture
            # is that item's file, so this one is a duplicate, not a second kept row
            tally.dropped(self.stats, "duplicate", adapter["query"])
            raise DropItem(f"picture {adapter['source_url']} already kept")
        failure = next((result for ok, result in results if not ok), None)
        error = getattr(failure, "value", None)
        tally.dropped(self.stats, error.reason if isinstance(error, PictureDropped)
                      else "over_cap" if not results else "download_failed", adapter["query"])
        raise DropItem(f"picture {adapter['source_url']} not kept")


class ManifestPipeline:
    """Appends each kept picture to OUT/manifest.csv as it arrives (one flush per row)."""

    def __init__(self, root: str) -> None:
        self.manifest = Path(root) / MANIFEST

    @classmethod
    def from_crawler(cls, crawler: Any) -> ManifestPipeline:
        return cls(crawler.settings["IMAGES_STORE"])

    def process_item(self, item: Any) -> Any:
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        append_rows(self.manifest, [ItemAdapter(item).asdict()])
        return item


class QuietRejections(logging.Filter):
    """Hides Scrapy's per-picture error logs for pictures this pipeline rejected on purpose:
    each rejection is already counted by reason in the stats and the run's summary."""

    MARKERS = ("File (error)", "File (unknown-error)", "FileException", "ImageException", "PictureDropped")

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        if record.exc_info and record.exc_info[1] is not None:
            text += type(record.exc_info[1]).__name__
        return not any(marker in text for marker in self.MARKERS)


class DropsAtDebug(LogFormatter):
    """Dropped items are expected (duplicates, broken pictures): log them at DEBUG."""

    def dropped(self, item: Any, exception: BaseException, response: Any, spider: Any = None) -> dict[str, Any]:
        entry = super().dropped(item, exception, response, spider)
        entry["level"] = logging.DEBUG
        return entry
