"""Building and updating the catalogue index from a crawl's manifest, or from the batch job's
output with the embeddings it wrote (format: ``serving.index.format``).

Every picture is decoded, preprocessed and embedded by the bundle's exported model (the
same ``shoplens.preprocessing`` and ``shoplens.exported`` the handler uses), so catalogue
and query vectors come from one computation. Updates append: a row already indexed
(same picture SHA-1 on the same product page) is skipped, and a picture already indexed
for another product reuses its vector. Skipped pictures are counted by reason.

The copy index (a model with a ``copy_embedding`` output) holds several views of each
picture, database-side augmentation as instance retrieval does it (Arandjelovic and
Zisserman; Turcot and Lowe): the picture itself and ``DATABASE_VIEWS`` (overlapping 80 %
regions, and the mirror image for a model whose copy descriptor is not mirror-invariant); a
query then meets the view that overlaps it most (maximum over a picture's views). Every
picture's ORB keypoints are stored beside its views (``serving.index.local``), so that a
query's nearest candidates can be verified. Its copy threshold and the inliers that verify a
copy are calibrated on the catalogue itself whenever the copy index is new or its whitening
was fitted anew: ``calibrated_threshold`` and ``calibrated_min_inliers`` on altered copies of
a seeded sample of the pictures being embedded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

from serving.index.alterations import altered, crop, flip
from serving.index.format import ITEM_FIELDS, CopyViews, empty_copy_views, write_version
from serving.index.live import load_current
from serving.index.local import LocalFeatures, best_inliers, local_features, query_features
from serving.index.ranking import VERIFY_DEPTH, CatalogueIndex
from shoplens import ShopLensError
from shoplens.bundle import Preprocessing, read_bundle
from shoplens.exported import COPY_EMBEDDING, EMBEDDING, Predict, embeddings
from shoplens.imaging import ImageRejected, decode_image, local_path
from shoplens.manifest import read_manifest
from shoplens.preprocessing import eval_batch

BATCH = 32
# Pictures (views included) per network call: bounded memory. The starter runs 4 views of each
# internally, so 16 is 64 passes of efficientnet_lite1: about 2 GB of activations at most.
VIEWS_PER_CALL = 16
REGION_CORNERS = ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (1.0, 1.0))  # the 80 % regions indexed besides the picture
CALIBRATION_PICTURES = 200  # altered copies the copy threshold is calibrated on
CALIBRATION_MIN_VERIFIED = 10  # altered copies large enough to verify, below which min_inliers is not calibrated
MIRROR_INVARIANT = 0.995  # cosine of a picture's and its mirror image's copy descriptors from which they are one


@dataclass
class BuildReport:
    version: str = ""
    items: int = 0
    embedded: int = 0
    reused: int = 0
    skipped: Counter = field(default_factory=Counter)
    copies: str = "no copy index"
    without_keypoints: int = 0  # items indexed whose picture could not be read for keypoints (never verified)

    def line(self) -> str:
        skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items())) or "none"
        unread = f"; {self.without_keypoints} pictures unread for keypoints" if self.without_keypoints else ""
        return (f"index {self.version}: {self.items} items ({self.embedded} pictures embedded, {self.reused} "
                f"vectors reused); skipped: {skipped}; {self.copies}{unread}")


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


def _existing(index: CatalogueIndex | None) -> tuple[list[dict[str, Any]], list[np.ndarray], CopyViews | None]:
    if index is None:
        return [], [], None
    copies = index.copies and dataclasses.replace(index.copies, vectors=np.asarray(index.copies.vectors))
    return list(index.items), list(np.asarray(index.vectors)), copies


def database_views(image: Image.Image, mirror: bool) -> list[Image.Image]:
    """The views of a catalogue picture indexed besides it: overlapping 80 % regions at its corners (with
    the centre the picture itself holds, they cover where a crop can fall); for a model whose copy
    descriptor is not mirror-invariant, its mirror image and the mirror image's regions too."""
    pictures = [image, flip(image)] if mirror else [image]
    return [*pictures[1:], *(crop(picture, corner) for picture in pictures for corner in REGION_CORNERS)]


def mirror_variant(outputs: dict[str, np.ndarray]) -> bool:
    """Whether the model's copy descriptor differs between a picture and its mirror image (`outputs` of the
    two), so that the mirror image is worth views of its own. The starter model's is the same for both but
    for the pixel the centre crop's rounding may shift."""
    copies = outputs.get(COPY_EMBEDDING)
    return copies is not None and float(copies[0] @ copies[1]) < MIRROR_INVARIANT


@dataclass
class _Embedder:
    """Embeds pending pictures in batches: the picture's embedding, and the copy descriptors of the picture
    and its database views (raw; whitened when the index is written)."""

    predict: Predict
    preprocessing: Preprocessing
    copy_raw: list[np.ndarray] = field(default_factory=list)
    copy_owners: list[np.ndarray] = field(default_factory=list)
    mirror: bool | None = None  # whether views need the mirror image: known from the first picture
    sample: list[tuple[int, Image.Image]] = field(default_factory=list)  # (item row, picture) to calibrate on
    local: dict[int, LocalFeatures] = field(default_factory=dict)  # keypoints of the pictures embedded, by item row
    seen: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def outputs(self, images: list[Image.Image]) -> dict[str, np.ndarray]:
        """The network's outputs for `images`, VIEWS_PER_CALL at a time: a batch's pictures with all
        their views in one call would hold every activation of hundreds of passes at once."""
        parts = [embeddings(self.predict, eval_batch(images[start:start + VIEWS_PER_CALL], self.preprocessing))
                 for start in range(0, len(images), VIEWS_PER_CALL)]
        return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]} if parts else {}

    def views(self, image: Image.Image) -> list[Image.Image]:
        if self.mirror is None:
            self.mirror = mirror_variant(self.outputs([image, flip(image)]))
        return database_views(image, self.mirror)

    def embed(self, pending: list[tuple[dict[str, Any], Image.Image]], items: list, vectors: list) -> None:
        first = len(items)
        per_picture = [[image, *self.views(image)] for _, image in pending]
        outputs = self.outputs([view for views in per_picture for view in views])
        starts = np.cumsum([0] + [len(views) for views in per_picture])[:-1]
        items.extend(item for item, _ in pending)
        vectors.extend(outputs[EMBEDDING][starts])
        if COPY_EMBEDDING in outputs:
            self.copy_raw.append(outputs[COPY_EMBEDDING])
            self.copy_owners.append(np.repeat(np.arange(first, len(items)), [len(views) for views in per_picture]))
        for row, (_, image) in enumerate(pending, start=first):  # reservoir sample of the embedded pictures
            self.local[row] = local_features(image)
            self.seen += 1
            slot = self.rng.randrange(self.seen)
            if len(self.sample) < CALIBRATION_PICTURES:
                self.sample.append((row, image))
            elif slot < CALIBRATION_PICTURES:
                self.sample[slot] = (row, image)

    def copies(self, existing: CopyViews | None, reused: list[tuple[int, int]], items: list[dict[str, Any]],
               ) -> CopyViews | None:
        """The index's copy views with this build's added (and reused pictures' views copied to their new
        rows), calibrated anew where the threshold is not known (a new or newly whitened copy index)."""
        if not self.copy_raw and existing is None:
            return None
        copies = existing or empty_copy_views()
        if self.copy_raw:
            copies = copies.added(np.concatenate(self.copy_raw), np.concatenate(self.copy_owners))
        for source, row in reused:
            views = np.flatnonzero(copies.owners == source)
            copies = dataclasses.replace(copies, vectors=np.concatenate([copies.vectors, copies.vectors[views]]),
                                         owners=np.concatenate([copies.owners, np.full(len(views), row)]))
        copies = self._with_local(copies, existing, dict((row, source) for source, row in reused), len(items))
        if copies.threshold is None and self.sample:
            rows = np.asarray([row for row, _ in self.sample])
            queries = [altered(image, rng=random.Random(row)) for row, image in self.sample]
            raw = np.concatenate([self.outputs(queries[start:start + BATCH])[COPY_EMBEDDING]
                                  for start in range(0, len(queries), BATCH)])
            pictures = np.unique([item["sha1"] for item in items], return_inverse=True)[1]
            scores = calibration_scores(copies, raw)
            copies = dataclasses.replace(copies, threshold=calibrated_threshold(copies, scores, rows, pictures))
            if copies.local is not None:
                local = [query_features(query) for query in queries]
                copies = dataclasses.replace(copies, min_inliers=calibrated_min_inliers(copies, scores, local, rows,
                                                                                        pictures))
        return copies

    def _with_local(self, copies: CopyViews, existing: CopyViews | None, source_of: dict[int, int], count: int
                    ) -> CopyViews:
        """The copy views with the keypoints of the rows added (a reused picture's from its first row); none
        where the index already held items without keypoints (an index built before they were kept)."""
        if existing is not None and existing.local is None:
            return copies

        def features(row: int) -> LocalFeatures:
            if row in self.local:
                return self.local[row]
            return features(source_of[row]) if source_of[row] >= held else copies.local[source_of[row]]

        held = 0 if existing is None else len(existing.local)
        return copies.with_local([features(row) for row in range(held, count)])


def calibration_scores(copies: CopyViews, raw_queries: np.ndarray) -> np.ndarray:
    """(queries, views) copy similarities of altered copies (their raw copy descriptors) to every view."""
    return np.stack([copies.query(raw) for raw in raw_queries]) @ np.asarray(copies.vectors).T


def calibrated_threshold(copies: CopyViews, scores: np.ndarray, originals: np.ndarray,
                         pictures: np.ndarray | None = None) -> float:
    """The copy threshold from altered copies of catalogue pictures (their ``calibration_scores``, and their
    originals' item rows; `pictures`: per item row, an id equal for the same picture bytes, whose other
    items are copies too). Each altered copy gives its similarity to its original (best view) and to the
    nearest other picture, which is what a query that is no copy meets. The threshold lies midway
    between the 95th percentile of the nearest others and the 5th percentile of the originals, or at
    that 95th percentile where they overlap: about 1 in 20 pictures that are no copy brings a product
    marked a copy (what a wrong mark costs: one place of the similarity ranking), and copies below it
    are still answered by the similarity ranking. Chosen on the catalogue's own pictures only: the
    benchmark calibrates it on train pictures and measures it on validation."""
    pictures = np.arange(int(copies.owners.max()) + 1) if pictures is None else pictures
    own = pictures[copies.owners][None, :] == pictures[originals][:, None]
    original = np.where(own, scores, -np.inf).max(1)
    nearest_other = np.where(own, -np.inf, scores).max(1)
    others, originals_low = np.quantile(nearest_other, 0.95), np.quantile(original, 0.05)
    return float((others + originals_low) / 2 if originals_low > others else others)


def calibrated_min_inliers(copies: CopyViews, scores: np.ndarray,
                           local_queries: list[tuple[LocalFeatures, ...] | None], originals: np.ndarray,
                           pictures: np.ndarray | None = None) -> int | None:
    """The inliers from which a verified candidate counts as the query's original, calibrated on what
    verification meets: each altered copy's VERIFY_DEPTH nearest items by copy similarity, the most inliers
    any picture other than its original has among them. min_inliers is the smallest count above their 95th
    percentile: about 1 in 20 pictures that are no copy brings a product marked a copy, the same rate as
    ``calibrated_threshold``'s. The originals' own counts play no part (they rank the copies, most inliers
    first), so a catalogue's hard pictures (few corners) stay verifiable. Copies too small to verify (None)
    are left out; with fewer than CALIBRATION_MIN_VERIFIED left (a catalogue of thumbnails) it is None:
    copies are found by threshold."""
    pictures = np.arange(int(copies.owners.max()) + 1) if pictures is None else pictures
    kept = [row for row, local in enumerate(local_queries) if local is not None]
    if len(kept) < CALIBRATION_MIN_VERIFIED:
        return None
    nearest_other = []
    for query_scores, row in zip(scores[kept], kept, strict=True):
        nearest = list(dict.fromkeys(copies.owners[np.argsort(-query_scores, kind="stable")].tolist()))[:VERIFY_DEPTH]
        others = [item for item in nearest if pictures[item] != pictures[originals[row]]]
        nearest_other.append(max((best_inliers(local_queries[row], copies.local[item]) for item in others), default=0))
    return int(np.quantile(nearest_other, 0.95)) + 1


def build_index(manifest: Path, bundle: Path, root: Path, fresh: bool = False, runtime: str = "onnx",
                progress: Callable[[str], None] = print) -> BuildReport:
    """Adds the manifest's pictures to the index under `root` (a new version) and reports what it did."""
    info, _ = read_bundle(bundle)
    items, vectors, copies = _existing(_current(root, info.version, fresh))
    indexed = {(item["sha1"], item["page_url"]) for item in items}
    vector_of = {item["sha1"]: row for row, item in enumerate(items)}
    report = BuildReport()
    pending: list[tuple[dict[str, Any], Any]] = []
    reused: list[tuple[int, int]] = []  # (row of the picture's first copy, row reusing its vectors)
    from network.export import bundle_predictor  # the network rebuilds or exports a bundle: here only

    embedder = _Embedder(bundle_predictor(bundle, runtime), info.preprocessing)
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
                _embed(pending, embedder, items, vectors, report, progress)
            reused.append((vector_of[sha1], len(items)))
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
            _embed(pending, embedder, items, vectors, report, progress)
    _embed(pending, embedder, items, vectors, report, progress)
    if not items:
        raise ShopLensError(f"no usable picture in {manifest}: nothing to index")
    report.items = len(items)
    copies = embedder.copies(copies, reused, items)
    report.version, report.copies = write_version(root, np.stack(vectors), items, info.version, info.arch,
                                                  copies), _copy_line(copies)
    return report


def _copy_line(copies: CopyViews | None) -> str:
    if copies is None:
        return "no copy index (the model has no copy_embedding output)"
    threshold = "not calibrated: nothing is marked a copy" if copies.threshold is None else f"{copies.threshold:.4f}"
    whitening = copies.whitening.kind if copies.whitening else "no"
    verified = ("no keypoints: copies by threshold only" if copies.local is None else
                f"{len(copies.local.points)} keypoints, verified from {copies.min_inliers} inliers"
                if copies.verifiable else "keypoints kept, inliers not calibrated")
    return f"copy index: {len(copies.owners)} views, whitening {whitening}, threshold {threshold}; {verified}"


def build_index_from_answers(answers: Path, root: Path, manifest: Path | None = None, fresh: bool = False
                             ) -> BuildReport:
    """Adds the pictures of a ``shoplens-batch classify`` output to the index, with the embeddings the
    job wrote (no second pass). Product page and picture URLs come from the crawl's `manifest` (matched
    by path) where given; a row's category and colour are its true labels where the input had them,
    else the model's. Error rows and rows already indexed are skipped and counted."""
    import pyarrow.parquet as pq

    try:
        whole = pq.read_table(answers)
        optional = [name for name in ("copy_embedding",) if name in whole.column_names]  # older outputs lack it
        table = whole.select(["sha1", "source", "width", "height", "category", "colour", "true_category",
                              "true_colour", "embedding", "model", "version", "error", *optional]).to_pylist()
    except (OSError, ValueError, KeyError) as exc:  # pyarrow's errors derive from these
        raise ShopLensError(f"{answers} is not a shoplens-batch output: {exc}") from None
    answered = [row for row in table if row["error"] is None and row["embedding"] is not None]
    versions = {(row["model"], row["version"]) for row in answered}
    if len(versions) != 1:
        raise ShopLensError(f"{answers} holds {len(versions)} model versions' answers; an index needs exactly one")
    ((arch, model_version),) = versions
    items, vectors, copies = _existing(_current(root, model_version, fresh))
    copy_raw, copy_owners, sources, first = [], [], [], len(items)
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
        if row.get("copy_embedding") is not None:
            copy_raw.append(np.asarray(row["copy_embedding"], dtype=np.float32))
            copy_owners.append(len(items))
        items.append(item)
        sources.append(row["source"])
        vectors.append(np.asarray(row["embedding"], dtype=np.float32))
        report.reused += 1
    if not items:
        raise ShopLensError(f"no answered picture in {answers}: nothing to index")
    if len(copy_raw) < len(items) - first or (copies is None and first):
        copies = None  # a copy index needs every item's descriptor: an older model's or older index's lack them
    elif copy_raw:  # one view each (no database-side views, no calibration of a new threshold)
        keep_local = copies is None or copies.local is not None
        copies = (copies or empty_copy_views()).added(np.stack(copy_raw), np.asarray(copy_owners))
        if keep_local:
            copies = copies.with_local([_source_features(source, report) for source in sources])
    report.items = len(items)
    report.version, report.copies = write_version(root, np.stack(vectors), items, model_version, arch,
                                                  copies), _copy_line(copies)
    return report


def _source_features(source: str, report: BuildReport) -> LocalFeatures:
    """The keypoints of a batch output row's picture, read again from its source; none where it cannot be read."""
    try:
        return local_features(decode_image(Path(_local(source)).read_bytes()))
    except (OSError, ImageRejected):
        report.without_keypoints += 1
        return LocalFeatures.none()


def _local(source: str) -> str:
    """A batch output's ``source`` (a path or file: URI) as a resolved local path."""
    return str(local_path(source))


def _manifest_urls(manifest: Path) -> dict[str, dict[str, str]]:
    """Per picture path in the crawl's manifest, its product page and picture URLs."""
    return {str((manifest.parent / row["path"]).resolve()): {"page_url": row.get("page_url") or "",
                                                             "source_url": row.get("source_url") or ""}
            for row in read_manifest(manifest)}


def _embed(pending: list, embedder: _Embedder, items: list, vectors: list, report: BuildReport,
           progress: Callable[[str], None]) -> None:
    if not pending:
        return
    embedder.embed(pending, items, vectors)
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
    copies = current.copies and current.copies.kept(np.asarray(keep))
    version = write_version(root, np.asarray(current.vectors)[keep], [current.items[row] for row in keep],
                            current.model_version, current.info["model_arch"], copies)
    return version, removed
