"""The data manifest: one CSV row per picture, written by the crawler, read by training.

Columns (``FIELDS``): ``path`` is relative to the manifest's folder; ``category`` and
``colour`` are the label (colour may be empty); ``colour_text`` is the source's own colour
words the label came from and ``colour_source`` where they were (structured_data, variant,
offer, swatch, product_json, page_text, name); the rest record provenance. Training
needs only path and category; extra or missing provenance columns are fine.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable
from pathlib import Path

from shoplens import ShopLensError

FIELDS = (
    "path", "category", "colour", "colour_text", "colour_source", "query", "source_url", "page_url",
    "sha1", "phash", "colour_hash", "width", "height", "bytes", "fetched_at",
)
REQUIRED = ("path", "category")


def read_manifest(path: Path) -> list[dict[str, str]]:
    """Rows of a manifest CSV; raises ShopLensError if it is missing or malformed."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [f for f in REQUIRED if f not in (reader.fieldnames or ())]
            if missing:
                raise ShopLensError(f"manifest {path} lacks column(s): {', '.join(missing)}")
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ShopLensError(f"cannot read manifest {path}: {exc}") from None


def append_rows(path: Path, rows: Iterable[dict[str, object]]) -> None:
    """Append rows, writing the header first when the file is new; flushed per call. Rows
    added to an older manifest keep its columns, so every row lines up with its header."""
    new = not path.exists() or path.stat().st_size == 0
    columns = FIELDS
    if not new:
        with path.open(newline="", encoding="utf-8") as handle:
            columns = tuple(next(csv.reader(handle), FIELDS))
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerows(rows)


def digest(rows: Iterable[tuple[str, ...]]) -> str:
    """SHA-256 over sorted label rows: the identity of the data a model was trained on."""
    hasher = hashlib.sha256()
    for row in sorted(rows):
        hasher.update("\t".join(row).encode() + b"\n")
    return hasher.hexdigest()
