"""The corrections store: shoppers' corrections, the model's uncertain answers and the review
queue, in a SQL database (SQLAlchemy 2.x; SQLite file or PostgreSQL), with each picture's
bytes kept once in the picture store (`pictures.PictureStore`).

Reading (training's side):

- ``accepted_corrections(database_url) -> list[AcceptedCorrection]``: every picture a person
  has decided in the review queue, with the labels decided last (``garment=False``: "not a
  garment", category None). Both kinds count: a correction accepted or fixed, and an
  uncertain answer of the model confirmed or fixed.

Writing (the API's side), on ``store = open_store(database_url, picture_root)``:

- ``store.keep_picture(picture_bytes, source_url) -> sha1``: the picture into the picture
  store and its row into ``pictures`` (raises `shoplens.imaging.ImageRejected` for bytes
  that are not a usable picture); ``store.has_picture(sha1)``.
- ``store.record_feedback(sha1, Answer, Correction, picture_url=, page_url=, reported_at=,
  sender=, daily_budget=) -> Vote``: a shopper's correction of an answer; it enters the review
  queue (``disagrees`` when its labels differ from the answer's). A correction is a vote: one
  per sender (a hash of the API key), picture and model version, so a repeat updates it
  (``Vote.updated``); a sender past ``daily_budget`` new votes in 24 hours gets `BudgetSpent`.
- ``store.record_uncertain(sha1, Answer) -> review item id | None``: an answer the model
  was unsure of enters the queue with its uncertainty, once per picture and model version
  (None when it is queued already).
- ``store.review_queue(offset, limit) -> ReviewPage``: open items ranked by what is most
  worth a person's look (`rank_for_review`), one per picture, ``reports`` counting distinct
  senders (and the model, for an uncertain answer); no one sender holds more than
  ``SENDER_SHARE`` of the first ``FIRST_PAGE`` places where others are waiting.
- ``store.decide(item_id, Correction | None, reviewer=) -> ReviewItem``: accept an item (None:
  the correction's labels, or for an uncertain answer the model's) or fix it with other labels;
  the picture's other open items are closed with it (``superseded``). Raises `UnknownItem`
  or `AlreadyDecided`.

`open_store` runs the Alembic migrations shipped in ``migrations/`` first
(``alembic.command.upgrade`` to head, under a lock so several API workers starting together
migrate once), so a fresh database or an older schema is brought up to date.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from shoplens import settings
from shoplens.corrections.models import Feedback, Picture, ReviewItem
from shoplens.corrections.pictures import PictureStore
from shoplens.imaging import ImageLimits, hamming

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x5340_4C45_4E53  # PostgreSQL advisory lock key ("SHOPLENS"-ish), taken while migrating
_MIGRATING = threading.Lock()
LOOKAHEAD = 50  # how far down the ranking a more diverse next item is looked for
FIRST_PAGE = 20  # the review page's first screen (its default limit)
SENDER_SHARE = 5  # places of the first page one sender's corrections may hold while others wait
BUDGET_WINDOW = timedelta(days=1)  # a sender's new votes are counted over this window


class UnknownItem(LookupError):
    """No review item has this id."""


class AlreadyDecided(ValueError):
    """The review item was decided already."""


class BudgetSpent(RuntimeError):
    """The sender has cast its daily budget of new votes."""


@dataclass(frozen=True)
class Vote:
    feedback_id: int
    updated: bool  # the sender had voted on this picture and model version: its vote now says this


@dataclass(frozen=True)
class AcceptedCorrection:
    sha1: str
    picture_path: Path
    category: str | None  # None when the picture shows no garment
    colour: str | None
    garment: bool


@dataclass(frozen=True)
class Answer:
    """What the model said about a picture."""

    model_version: str
    category: str
    colour: str | None = None
    probability: float | None = None  # the top category's
    uncertainty: float = 0.0  # `uncertainty(labels)`


@dataclass(frozen=True)
class Correction:
    """Labels a shopper or a reviewer gives: a category and colour, or not a garment."""

    category: str | None
    colour: str | None
    garment: bool = True

    def disagrees_with(self, answer: Answer) -> bool:
        return not self.garment or self.category != answer.category or (
            self.colour is not None and self.colour != answer.colour)


@dataclass(frozen=True)
class QueuedItem:
    """An open review item as the queue shows it."""

    item: ReviewItem
    reports: int  # distinct senders correcting the picture, and the model where it was unsure
    perceptual_hash: int
    source_url: str | None
    page_url: str | None
    sender: str | None = None  # the one sender behind every report; None for several, or the model's


@dataclass(frozen=True)
class ReviewPage:
    items: list[QueuedItem]
    total: int  # pictures waiting


def uncertainty(labels: list[dict[str, Any]]) -> float:
    """Margin uncertainty of an answer's ranked labels: 1 - (first probability - second)."""
    top = [float(label["probability"]) for label in labels[:2]] + [0.0, 0.0]
    return round(1.0 - (top[0] - top[1]), 6)


def key_hash(key: str) -> str:
    """Who sent or decided something, without keeping their API key."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def now() -> datetime:
    return datetime.now(UTC)


def make_engine(database_url: str) -> Engine:
    """An engine for `database_url`; a SQLite file's folder is made, and SQLite waits on locks and
    checks foreign keys like PostgreSQL does."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 10})
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")  # readers do not wait for the one writer
        cursor.close()

    return engine


@contextlib.contextmanager
def _sqlite_file_locked(engine: Engine) -> Iterator[None]:
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def migrate(engine: Engine, revision: str = "head") -> None:
    """Brings the database's schema to `revision` (the newest migration), one process at a time (and one
    thread: Alembic's ``context`` and ``op`` are module-wide proxies)."""
    with _MIGRATING, _sqlite_file_locked(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def schema_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


class CorrectionsStore:
    def __init__(self, engine: Engine, pictures: PictureStore | None = None) -> None:  # None: reading only
        self.engine, self.pictures = engine, pictures
        self.session = sessionmaker(engine, expire_on_commit=False)

    def close(self) -> None:
        self.engine.dispose()

    def keep_picture(self, picture: bytes, source_url: str | None = None, limits: ImageLimits | None = None) -> str:
        if self.pictures is None:
            raise ValueError("this store was opened for reading: it has no picture store")
        stored = self.pictures.put(picture, limits)
        try:
            with self.session.begin() as session:
                if session.get(Picture, stored.sha1) is None:
                    session.add(Picture(sha1=stored.sha1, location=stored.location, byte_size=stored.byte_size,
                                        width=stored.width, height=stored.height,
                                        perceptual_hash=stored.perceptual_hash, source_url=source_url,
                                        first_seen=now()))
        except IntegrityError:  # another worker kept the same picture just now
            pass
        return stored.sha1

    def has_picture(self, sha1: str) -> bool:
        with self.session() as session:
            return session.get(Picture, sha1) is not None

    def picture_location(self, sha1: str) -> str | None:
        with self.session() as session:
            picture = session.get(Picture, sha1)
            return picture.location if picture else None

    def record_feedback(self, sha1: str, answer: Answer, correction: Correction, *, picture_url: str | None = None,
                        page_url: str | None = None, reported_at: datetime | None = None,
                        sender: str = "", daily_budget: int | None = None) -> Vote:
        sender = key_hash(sender)
        fields = {"picture_url": picture_url, "page_url": page_url, "predicted_category": answer.category,
                  "predicted_colour": answer.colour, "category": correction.category, "colour": correction.colour,
                  "garment": correction.garment, "reported_at": reported_at or now(), "received_at": now()}
        vote_key = f"{sender}:{sha1}:{answer.model_version}"
        try:
            return self._vote(sha1, answer, correction, sender, vote_key, fields, daily_budget)
        except IntegrityError:  # the same vote inserted by another worker just now: this one updates it
            return self._vote(sha1, answer, correction, sender, vote_key, fields, daily_budget)

    def _vote(self, sha1: str, answer: Answer, correction: Correction, sender: str, vote_key: str,
              fields: dict[str, Any], daily_budget: int | None) -> Vote:
        with self.session.begin() as session:
            feedback = session.scalar(select(Feedback).where(Feedback.vote_key == vote_key).with_for_update())
            if feedback is None:
                if daily_budget is not None and self._votes_since(session, sender) >= daily_budget:
                    raise BudgetSpent(f"this key has sent {daily_budget} corrections in the last 24 hours")
                feedback = Feedback(picture_sha1=sha1, model_version=answer.model_version, sender=sender,
                                    vote_key=vote_key, **fields)
                session.add(feedback)
                session.flush()
                updated = False
            else:
                for name, value in fields.items():
                    setattr(feedback, name, value)
                updated = True
            item = session.scalar(select(ReviewItem).where(ReviewItem.feedback_id == feedback.id,
                                                           ReviewItem.status == "open"))
            if item is None:  # a first vote, or one changed after its item was decided: queued again
                item = _item(sha1, answer, "correction", feedback_id=feedback.id)
                session.add(item)
            item.disagrees = correction.disagrees_with(answer)
            item.predicted_category, item.predicted_colour = answer.category, answer.colour
            item.predicted_probability, item.uncertainty = answer.probability, answer.uncertainty
            item.proposed_category, item.proposed_colour = correction.category, correction.colour
            item.proposed_garment = correction.garment
            return Vote(feedback.id, updated)

    @staticmethod
    def _votes_since(session: Any, sender: str) -> int:
        since = now() - BUDGET_WINDOW
        return session.scalar(select(func.count()).select_from(Feedback)
                              .where(Feedback.sender == sender, Feedback.received_at >= since))

    def record_uncertain(self, sha1: str, answer: Answer) -> int | None:
        try:
            with self.session.begin() as session:
                item = _item(sha1, answer, "uncertain", uncertain_key=f"{sha1}:{answer.model_version}")
                session.add(item)
                session.flush()
                return item.id
        except IntegrityError:  # queued already for this model version (perhaps by another worker just now)
            return None

    def review_queue(self, offset: int = 0, limit: int = 20,
                     max_distance: int = settings.MAX_DISTANCE.default) -> ReviewPage:
        with self.session() as session:
            rows = session.execute(
                select(ReviewItem, Picture.perceptual_hash, Picture.source_url, Feedback.page_url, Feedback.sender)
                .join(Picture, ReviewItem.picture_sha1 == Picture.sha1)
                .outerjoin(Feedback, ReviewItem.feedback_id == Feedback.id)
                .where(ReviewItem.status == "open")).all()
        by_picture: dict[str, list[Any]] = {}
        for row in rows:
            by_picture.setdefault(row[0].picture_sha1, []).append(row)
        queued = [_queued(group) for group in by_picture.values()]
        ranked = capped(rank_for_review(queued, max_distance))
        return ReviewPage(ranked[offset:offset + limit], len(ranked))

    def decide(self, item_id: int, correction: Correction | None = None, reviewer: str = "") -> ReviewItem:
        with self.session.begin() as session:
            item = session.get(ReviewItem, item_id, with_for_update=True)
            if item is None:
                raise UnknownItem(f"no review item {item_id}")
            if item.status != "open":
                raise AlreadyDecided(f"review item {item_id} was decided already ({item.status})")
            if correction is None:
                correction = (Correction(item.proposed_category, item.proposed_colour, bool(item.proposed_garment))
                              if item.reason == "correction" else
                              Correction(item.predicted_category, item.predicted_colour, True))
                item.status = "accepted"
            else:
                item.status = "fixed"
            item.decided_category = correction.category if correction.garment else None
            item.decided_colour = correction.colour if correction.garment else None
            item.decided_garment, item.decided_at, item.decided_by = correction.garment, now(), key_hash(reviewer)
            for other in session.scalars(select(ReviewItem).where(ReviewItem.picture_sha1 == item.picture_sha1,
                                                                  ReviewItem.status == "open",
                                                                  ReviewItem.id != item.id)):
                other.status = "superseded"
            return item

    def accepted(self) -> list[AcceptedCorrection]:
        with self.session() as session:
            rows = session.execute(
                select(ReviewItem, Picture.location).join(Picture, ReviewItem.picture_sha1 == Picture.sha1)
                .where(ReviewItem.status.in_(("accepted", "fixed")))
                .order_by(ReviewItem.decided_at, ReviewItem.id)).all()
        latest = {item.picture_sha1: AcceptedCorrection(item.picture_sha1, Path(location), item.decided_category,
                                                        item.decided_colour, bool(item.decided_garment))
                  for item, location in rows}
        return list(latest.values())

    def row_counts(self) -> dict[str, int]:
        with self.session() as session:
            return {table.__tablename__: session.scalar(select(func.count()).select_from(table))
                    for table in (Picture, Feedback, ReviewItem)}


def _queued(group: list[Any]) -> QueuedItem:
    """One picture's open items (rows of item, hash, source URL, page URL, sender) as one queue entry."""
    best = min(group, key=lambda row: _priority(row[0]))
    senders = {row[4] for row in group if row[0].reason == "correction"}
    model = any(row[0].reason == "uncertain" for row in group)
    page_url = next((row[3] for row in group if row[3]), None)
    only = next(iter(senders)) if len(senders) == 1 and not model else None
    return QueuedItem(best[0], len(senders) + model, int(best[1], 16), best[2], page_url, only)


def capped(ranked: list[QueuedItem], page: int = FIRST_PAGE, share: int = SENDER_SHARE) -> list[QueuedItem]:
    """`ranked` with no single sender's entries past `share` of the first `page` places while others wait
    (the entries held back come right after that page, in their order): one key cannot buy the queue."""
    first: list[QueuedItem] = []
    held: list[QueuedItem] = []
    places: Counter[str | None] = Counter()  # None (several senders, or the model) is never capped
    for index, entry in enumerate(ranked):
        if len(first) == page:
            return first + held + ranked[index:]
        if entry.sender is not None and places[entry.sender] >= share:
            held.append(entry)
            continue
        places[entry.sender] += 1
        first.append(entry)
    return first + held


def _item(sha1: str, answer: Answer, reason: str, **fields: Any) -> ReviewItem:
    return ReviewItem(picture_sha1=sha1, reason=reason, model_version=answer.model_version,
                      predicted_category=answer.category, predicted_colour=answer.colour,
                      predicted_probability=answer.probability, uncertainty=answer.uncertainty,
                      status="open", created_at=now(), **{"disagrees": False, **fields})


def _priority(item: ReviewItem) -> tuple[bool, float, int]:
    """Smaller first: corrections that disagree with the model, then the most uncertain, then the oldest."""
    return not item.disagrees, -item.uncertainty, item.id


def rank_for_review(queued: list[QueuedItem], max_distance: int) -> list[QueuedItem]:
    """Disagreeing corrections first, then by uncertainty (uncertainty sampling); within each tier the
    next item is, where one is near enough in rank, neither a near-duplicate of the one before it nor
    of its predicted category, so a reviewer never sees the same thing twice back to back."""
    ordered = sorted(queued, key=lambda entry: _priority(entry.item))
    ranked: list[QueuedItem] = []
    for tier in (True, False):
        remaining = [entry for entry in ordered if bool(entry.item.disagrees) == tier]
        while remaining:
            pick = next((index for index, entry in enumerate(remaining[:LOOKAHEAD])
                         if _varied(entry, ranked, max_distance)), 0)
            ranked.append(remaining.pop(pick))
    return ranked


def _varied(entry: QueuedItem, ranked: list[QueuedItem], max_distance: int) -> bool:
    if not ranked:
        return True
    last = ranked[-1]
    return (hamming(entry.perceptual_hash, last.perceptual_hash) > max_distance
            and last.item.predicted_category != entry.item.predicted_category)


def open_store(database_url: str, picture_root: str | Path) -> CorrectionsStore:
    """The store at `database_url` (migrated to the newest schema first) with pictures under `picture_root`."""
    engine = make_engine(database_url)
    migrate(engine)
    return CorrectionsStore(engine, PictureStore(picture_root))


def accepted_corrections(database_url: str) -> list[AcceptedCorrection]:
    """Every decided picture with the labels decided last (see the module docstring)."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        return CorrectionsStore(engine).accepted()
    finally:
        engine.dispose()
