"""The corrections database's tables (SQLAlchemy 2.x declarative); Alembic's migrations in
``migrations/versions/`` create and change them, and `store.open_store` runs them.

- ``pictures``: one row per picture kept in the picture store (by SHA-1), with its size and
  perceptual hash (near-duplicates in the review queue; deduplication against training data).
- ``feedback``: what a shopper sent: the answer they saw (category, colour, model version)
  and their correction (a category and colour, or "not a garment"), the page, the time; one
  row (a vote) per sender, picture and model version, which a repeat updates.
- ``review_items``: the review queue. A correction or an uncertain answer of the model waits
  there (``open``) until a person accepts it or fixes its labels; the decision is what
  training reads back (`store.accepted_corrections`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

LABEL = 64  # characters of a category, colour or model version
URL = 2048
VOTE_KEY = 32 + 1 + 40 + 1 + LABEL  # a sender hash, a SHA-1 and a model version


class Base(DeclarativeBase):
    pass


class Picture(Base):
    __tablename__ = "pictures"

    sha1: Mapped[str] = mapped_column(String(40), primary_key=True)
    location: Mapped[str] = mapped_column(String(URL))  # where the bytes are: a file path (an object URL later)
    byte_size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    perceptual_hash: Mapped[str] = mapped_column(String(16))  # 64-bit pHash as 16 hex digits, as in manifests
    source_url: Mapped[str | None] = mapped_column(String(URL))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_sender_received", "sender", "received_at"),)  # a sender's daily budget

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    picture_sha1: Mapped[str] = mapped_column(ForeignKey("pictures.sha1"), index=True)
    picture_url: Mapped[str | None] = mapped_column(String(URL))
    page_url: Mapped[str | None] = mapped_column(String(URL))
    model_version: Mapped[str] = mapped_column(String(LABEL))
    predicted_category: Mapped[str] = mapped_column(String(LABEL))
    predicted_colour: Mapped[str | None] = mapped_column(String(LABEL))
    category: Mapped[str | None] = mapped_column(String(LABEL))  # the correction; None when not a garment
    colour: Mapped[str | None] = mapped_column(String(LABEL))
    garment: Mapped[bool] = mapped_column(Boolean)
    reported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the shopper's clock
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sender: Mapped[str] = mapped_column(String(LABEL))  # a hash of the API key, never the key
    # "sender:sha1:model version": one vote per key, picture and model (NULL on rows from before revision 0003)
    vote_key: Mapped[str | None] = mapped_column(String(VOTE_KEY), unique=True)


class ReviewItem(Base):
    __tablename__ = "review_items"
    __table_args__ = (Index("ix_review_items_open", "status", "uncertainty"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    picture_sha1: Mapped[str] = mapped_column(ForeignKey("pictures.sha1"), index=True)
    reason: Mapped[str] = mapped_column(String(16))  # "correction" or "uncertain"
    feedback_id: Mapped[int | None] = mapped_column(ForeignKey("feedback.id"))
    # "sha1:version" for an uncertain answer, so each picture enters once per model version (NULLs never clash)
    uncertain_key: Mapped[str | None] = mapped_column(String(LABEL + 41), unique=True)
    model_version: Mapped[str] = mapped_column(String(LABEL))
    predicted_category: Mapped[str] = mapped_column(String(LABEL))
    predicted_colour: Mapped[str | None] = mapped_column(String(LABEL))
    predicted_probability: Mapped[float | None] = mapped_column(Float)
    uncertainty: Mapped[float] = mapped_column(Float)  # 1 - (top probability - second): 1 is a coin toss
    disagrees: Mapped[bool] = mapped_column(Boolean)  # a correction that says the model was wrong
    proposed_category: Mapped[str | None] = mapped_column(String(LABEL))  # the shopper's labels, if any
    proposed_colour: Mapped[str | None] = mapped_column(String(LABEL))
    proposed_garment: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open, accepted, fixed, superseded
    decided_category: Mapped[str | None] = mapped_column(String(LABEL))
    decided_colour: Mapped[str | None] = mapped_column(String(LABEL))
    decided_garment: Mapped[bool | None] = mapped_column(Boolean)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(LABEL))  # a hash of the reviewer's admin key
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
