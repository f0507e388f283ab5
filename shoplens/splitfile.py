"""The split file (``split.json``): which labelled picture is in train, validation or test.

Training writes it (``training.splits``) and reads it back to reproduce a run; promotion
(``serving.operations.promote``) reads its test part as the held-out pictures both model versions are
scored on. `CorrectedPictures` is the one rule for which pictures a shopper's accepted
correction touches (same SHA-1, or a perceptual hash within the split's near-duplicate
distance): such a picture never stays in a held-out part, because the model trained on the
correction would be scored on what it was taught.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoplens import ShopLensError
from shoplens.imaging import hamming

FORMAT = 1
SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class Sample:
    path: Path
    category: str
    colour: str | None = None
    phash: int = 0
    split: str = ""

    @property
    def label(self) -> tuple[str, str]:
        return self.category, self.colour or ""


def split_document(samples: list[Sample], source: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON document of a split; picture paths relative to `source` (its folder, or a manifest's folder)."""
    root = Path(source).resolve()
    base = root if root.is_dir() else root.parent
    return {"format": FORMAT, "source": str(root), **meta,
            "counts": {name: sum(1 for s in samples if s.split == name) for name in SPLITS},
            "samples": [{"path": os.path.relpath(s.path.resolve(), base), "category": s.category,
                         "colour": s.colour, "phash": f"{s.phash:016x}", "split": s.split} for s in samples]}


def read_split_file(path: Path) -> tuple[dict[str, Any], list[Sample]]:
    """(the document's other fields, its samples with absolute paths); ShopLensError when unreadable."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != FORMAT:
            raise ValueError(f"format {document.get('format')} is not {FORMAT}")
        root = Path(document["source"])
        base = root if root.is_dir() else root.parent
        samples = [Sample(base / row["path"], row["category"], row["colour"], int(row["phash"], 16), row["split"])
                   for row in document.pop("samples")]
        return document, samples
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ShopLensError(f"split file {path} is unreadable or corrupt: {exc}") from None


def accepted_corrections(database_url: str) -> list:
    """The corrections database's accepted corrections (``shoplens.corrections.store``), a database that
    cannot be read being a ShopLensError; a SQLite file must exist (a mistyped path would read as none)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from shoplens.corrections.store import accepted_corrections as read_accepted

    try:
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
            raise ShopLensError(f"corrections database {database_url}: no such SQLite file")
        return read_accepted(database_url)
    except SQLAlchemyError as exc:
        raise ShopLensError(f"corrections database {database_url} cannot be read: {exc}") from None


def file_sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


class CorrectedPictures:
    """The pictures of accepted corrections, matched by SHA-1 or by perceptual hash."""

    def __init__(self, sha1s: Iterable[str], phashes: Iterable[int], max_distance: int) -> None:
        self.sha1s, self.phashes, self.max_distance = frozenset(sha1s), list(phashes), max_distance

    def __len__(self) -> int:
        return len(self.sha1s)

    def touch(self, sha1: str, phash: int) -> bool:
        """Is this picture (its SHA-1 and pHash) one of the corrected ones, or a near-duplicate of one?"""
        return sha1 in self.sha1s or any(hamming(phash, other) <= self.max_distance for other in self.phashes)

    def held_out(self, samples: list[Sample]) -> tuple[list[Sample], int]:
        """`samples` less those a correction touches, and how many were left out."""
        kept = [s for s in samples if not self.touch(file_sha1(s.path), s.phash)]
        return kept, len(samples) - len(kept)
