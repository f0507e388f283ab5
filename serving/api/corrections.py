"""The API's side of the corrections store (shoplens/corrections): the store, opened (and
migrated) on first use, and the recorder that puts the model's uncertain answers into the
review queue.

The classify hot path stays fast: for a new answer (a cache miss: its picture's bytes are at
hand) it only tests the answer (low-confidence flag, or a top probability under
SHOPLENS_REVIEW_CONFIDENCE) and hands the bytes to a bounded in-process queue; a thread of its
own hashes, decodes, stores the picture and writes the database row. When that queue is full
the answer is dropped and counted (``shoplens_review_offers_total{outcome="dropped_busy"}``),
never waited for. A cached answer was offered when it was new, so hits cost nothing.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from typing import Any

from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError

from shoplens.corrections.store import Answer, CorrectionsStore, open_store, uncertainty
from shoplens.imaging import ImageLimits, ImageRejected

OFFERS = Counter("shoplens_review_offers_total", "Uncertain answers offered to the review queue, by outcome",
                 ["outcome"])
log = logging.getLogger(__name__)
BACKLOG = 256  # uncertain answers waiting for the recorder thread, per worker process


class CorrectionsUnavailable(Exception):
    """The corrections database cannot be opened or written; the message says why."""


def needs_review(answer: dict[str, Any], confidence: float) -> bool:
    labels = answer.get("labels") or [{"probability": 1.0}]
    return bool(answer.get("low_confidence")) or float(labels[0]["probability"]) < confidence


def model_answer(answer: dict[str, Any], version: str | None = None) -> Answer:
    """An answer of the classify route as the store records it."""
    labels = answer.get("labels") or []
    colour = answer.get("colour") or {}
    return Answer(str(version or answer.get("version", "")), str(answer.get("category", "")), colour.get("label"),
                  float(labels[0]["probability"]) if labels else None, uncertainty(labels))


class Corrections:
    def __init__(self, database_url: str, picture_root: str, limits: ImageLimits) -> None:
        self.database_url, self.picture_root, self.limits = database_url, picture_root, limits
        self._store: CorrectionsStore | None = None
        self._opening = threading.Lock()
        self._backlog: queue.Queue[tuple[bytes, str | None, Answer]] = queue.Queue(BACKLOG)
        self._recorder: tuple[int, threading.Thread] | None = None  # (process id, thread): none survives a fork

    def store(self) -> CorrectionsStore:
        """The store, opened and migrated by the first caller of this process."""
        with self._opening:
            if self._store is None:
                try:
                    self._store = open_store(self.database_url, self.picture_root)
                except (SQLAlchemyError, OSError) as exc:
                    raise CorrectionsUnavailable(f"corrections database unavailable: {exc}") from None
            return self._store

    def offer_uncertain(self, picture: bytes, url: str | None, answer: Answer) -> None:
        """Queues an uncertain answer for the recorder thread; never blocks."""
        self._ensure_recorder()
        try:
            self._backlog.put_nowait((picture, url, answer))
        except queue.Full:
            OFFERS.labels("dropped_busy").inc()

    def drain(self, timeout: float) -> bool:
        """Waits up to `timeout` seconds for every offered answer to be recorded (tests, shutdown)."""
        done = threading.Event()
        threading.Thread(target=lambda: (self._backlog.join(), done.set()), daemon=True).start()
        return done.wait(timeout)

    def _ensure_recorder(self) -> None:
        if self._recorder is None or self._recorder[0] != os.getpid() or not self._recorder[1].is_alive():
            with self._opening:
                if self._recorder is None or self._recorder[0] != os.getpid() or not self._recorder[1].is_alive():
                    thread = threading.Thread(target=self._record_forever, name="review-recorder", daemon=True)
                    thread.start()
                    self._recorder = (os.getpid(), thread)

    def _record_forever(self) -> None:
        while True:
            picture, url, answer = self._backlog.get()
            try:
                outcome = self._record(picture, url, answer)
            except Exception:  # the recorder outlives any one answer
                log.exception("recording an uncertain answer failed")
                outcome = "failed"
            OFFERS.labels(outcome).inc()
            self._backlog.task_done()

    def _record(self, picture: bytes, url: str | None, answer: Answer) -> str:
        try:
            store = self.store()
            sha1 = store.keep_picture(picture, url, self.limits)
            return "queued" if store.record_uncertain(sha1, answer) is not None else "queued_already"
        except ImageRejected:
            return "not_a_picture"
        except (CorrectionsUnavailable, SQLAlchemyError, OSError):
            return "failed_database"
