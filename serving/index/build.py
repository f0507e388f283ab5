"""Building and updating the catalogue index from a crawl's manifest, or from the batch job's
output with the embeddings it wrote (format: ``serving.index.store``).

Every picture is decoded, preprocessed and embedded by the bundle's exported model (the
same ``shoplens.preprocessing`` and ``shoplens.exported`` the handler uses), so catalogue
and query vectors come from one computation. Updates append: a row already indexed
(same picture SHA-1 on the same product page) is skipped, and a picture already indexed
for another product reuses its vector. Skipped pictures are counted by reason.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from serving.index.store import ITEM_FIELDS, CatalogueIndex, load_current, write_version
from shoplens import ShopLensError
from shoplens.bundle import read_bundle
from shoplens.exported import EMBEDDING, embeddings, load_predictor
from shoplens.imaging import ImageRejected, decode_image
from shoplens.manifest import read_manifest
from shoplens.preprocessing import eval_batch

BATCH = 32


@dataclass
class BuildReport:
    version: str = ""
    items: int = 0
    embedded: int = 0
    reused: int = 0
    skipped: Counter = field(default_factory=Counter)

    def line(self) -> str:
        skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items())) or "none"
        return (f"index {self.version}: {self.items} items ({self.embedded} pictures embedded, {self.reused} "
                f"vectors reused); skipped: {skipped}")


def shop_of(page_url: str) -> str:
    """A product's shop: its page's host name."""
    return (urlsplit(page_url).hostname or "") if page_url else ""


def _item(row: dict[str, str], sha1: str, size: tuple[int, int]) -> dict[str, Any]:
    page = row.get("page_url") or ""
    values = {"sha1": sha1, "page_url": page, "picture_url": row.get("source_url") or "",
              "category": row.get("category") or "", "colour": row.get("colour") or "", "shop": shop_of(page),
              "width": size[0], "height": size[1]}
    return {name: values[name] for name in ITEM_FIELDS}


def _current(root: Path, model_version: str, fresh: bool) -> CatalogueIndex | None:
    """The index to add to (None for a new one); one made by another model version is refused."""
    current = None if fresh else load_current(root)
    if current is not None and current.model_version != model_version:
        raise ShopLensError(f"the index in {root} was built with model version {current.model_version}; these "
                            f"vectors are {model_version}'s: rebuild it with --fresh")
    return current


def _existing(index: CatalogueIndex | None) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    if index is None:
        return [], []
    return list(index.items), list(np.asarray(index.vectors))


def build_index(manifest: Path, bundle: Path, root: Path, fresh: bool = False, runtime: str = "onnx",
                progress: Callable[[str], None] = print) -> BuildReport:
    """Adds the manifest's pictures to the index under `root` (a new version) and reports what it did."""
    info, _ = read_bundle(bundle)
    items, vectors = _existing(_current(root, info.version, fresh))
    indexed = {(item["sha1"], item["page_url"]) for item in items}
    vector_of = {item["sha1"]: row for row, item in enumerate(items)}
    report = BuildReport()
    pending: list[tuple[dict[str, Any], Any]] = []
    predict = load_predictor(bundle, info, runtime)
    folder = manifest.parent
    for row in read_manifest(manifest):
        path = folder / row["path"]
        try:
            data = path.read_bytes()
        except OSError:
            report.skipped["missing file"] += 1
            continue
        sha1 = row.get("sha1") or hashlib.sha1(data).hexdigest()
        if (sha1, row.get("page_url") or "") in indexed:
            report.skipped["already indexed"] += 1
            continue
        indexed.add((sha1, row.get("page_url") or ""))
        if sha1 in vector_of:
            if vector_of[sha1] >= len(items):  # the first copy is still waiting to be embedded
                _embed(pending, predict, info.preprocessing, items, vectors, report, progress)
            items.append(_item(row, sha1, (items[vector_of[sha1]]["width"], items[vector_of[sha1]]["height"])))
            vectors.append(vectors[vector_of[sha1]])
            report.reused += 1
            continue
        try:
            image = decode_image(data)
        except ImageRejected as exc:
            report.skipped[exc.reason] += 1
            continue
        vector_of[sha1] = len(items) + len(pending)  # placeholder until embedded: rows are appended in order
        pending.append((_item(row, sha1, image.size), image))
        if len(pending) == BATCH:
            _embed(pending, predict, info.preprocessing, items, vectors, report, progress)
    _embed(pending, predict, info.preprocessing, items, vectors, report, progress)
    if not items:
        raise ShopLensError(f"no usable picture in {manifest}: nothing to index")
    report.items = len(items)
    report.version = write_version(root, np.stack(vectors), items, info.version, info.arch)
    return report


def build_index_from_answers(answers: Path, root: Path, manifest: Path | None = None, fresh: bool = False
                             ) -> BuildReport:
    """Adds the pictures of a ``shoplens-batch classify`` output to the index, with the embeddings the
    job wrote (no second pass). Product page and picture URLs come from the crawl's `manifest` (matched
    by path) where given; a row's category and colour are its true labels where the input had them,
    else the model's. Error rows and rows already indexed are skipped and counted."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(answers, columns=["sha1", "source", "width", "height", "category", "colour",
                                                "true_category", "true_colour", "embedding", "model", "version",
                                                "error"]).to_pylist()
    except (OSError, ValueError, KeyError) as exc:  # pyarrow's errors derive from these
        raise ShopLensError(f"{answers} is not a shoplens-batch output: {exc}") from None
    answered = [row for row in table if row["error"] is None and row["embedding"] is not None]
    versions = {(row["model"], row["version"]) for row in answered}
    if len(versions) != 1:
        raise ShopLensError(f"{answers} holds {len(versions)} model versions' answers; an index needs exactly one")
    ((arch, model_version),) = versions
    items, vectors = _existing(_current(root, model_version, fresh))
    pages = _manifest_urls(manifest) if manifest else {}
    indexed = {(item["sha1"], item["page_url"]) for item in items}
    report = BuildReport(skipped=Counter({"error row": len(table) - len(answered)}) - Counter())
    for row in answered:
        urls = pages.get(_local(row["source"]), {})
        labels = {"category": row["true_category"] or row["category"], "colour": row["true_colour"] or row["colour"]}
        item = _item({**urls, **labels}, row["sha1"], (row["width"], row["height"]))
        if (item["sha1"], item["page_url"]) in indexed:
            report.skipped["already indexed"] += 1
            continue
        indexed.add((item["sha1"], item["page_url"]))
        items.append(item)
        vectors.append(np.asarray(row["embedding"], dtype=np.float32))
        report.reused += 1
    if not items:
        raise ShopLensError(f"no answered picture in {answers}: nothing to index")
    report.items = len(items)
    report.version = write_version(root, np.stack(vectors), items, model_version, arch)
    return report


def _local(source: str) -> str:
    """A batch output's ``source`` (a path or file: URI) as a resolved local path."""
    return str(Path(urlsplit(source).path if source.startswith("file:") else source).resolve())


def _manifest_urls(manifest: Path) -> dict[str, dict[str, str]]:
    """Per picture path in the crawl's manifest, its product page and picture URLs."""
    return {str((manifest.parent / row["path"]).resolve()): {"page_url": row.get("page_url") or "",
                                                             "source_url": row.get("source_url") or ""}
            for row in read_manifest(manifest)}


def _embed(pending: list, predict: Any, preprocessing: Any, items: list, vectors: list, report: BuildReport,
           progress: Callable[[str], None]) -> None:
    if not pending:
        return
    batch = embeddings(predict, eval_batch([image for _, image in pending], preprocessing))[EMBEDDING]
    items.extend(item for item, _ in pending)
    vectors.extend(batch)
    report.embedded += len(pending)
    pending.clear()
    if report.embedded % (BATCH * 10) == 0:
        progress(f"embedded {report.embedded} pictures")


def remove_shop(root: Path, shop: str) -> tuple[str, int]:
    """Writes a version without the shop's rows; returns (version, rows removed)."""
    current = load_current(root)
    if current is None:
        raise ShopLensError(f"no index in {root}")
    keep = [row for row, item in enumerate(current.items) if item["shop"] != shop]
    removed = len(current.items) - len(keep)
    if not removed:
        raise ShopLensError(f"the index holds no product of shop {shop!r}")
    if not keep:
        raise ShopLensError(f"{shop!r} is the index's only shop: build a new index instead")
    version = write_version(root, np.asarray(current.vectors)[keep], [current.items[row] for row in keep],
                            current.model_version, current.info["model_arch"])
    return version, removed
