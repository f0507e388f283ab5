"""A versioned catalogue index on disk, and searching it.

This docstring is the format's one description. ``INDEX/`` holds:

``CURRENT``
    the name of the live version (``v000007``), replaced atomically after a version is
    complete, so a reader never sees half of one. The API checks it and picks a new
    version up without a restart.
``v000007/index.json``
    {"format": 1, "version": "v000007", "model_version": the bundle version that made the
    vectors, "model_arch", "dim", "count", "kind": "flat" | "hnsw", "created"}. An index
    is only ever queried with embeddings of the model version that built it.
``v000007/vectors.npy``
    float32 (count, dim) L2-normalised embeddings, row i = item i (kept so that updates
    re-embed nothing already indexed, and filtered searches are exact).
``v000007/index.faiss``
    the FAISS inner-product index over those rows (ids = row numbers): exact
    (``IndexFlatIP``) up to ``EXACT_MAX_ITEMS`` items, HNSW above; inner product of
    unit vectors is cosine similarity.
``v000007/items.json``
    one object per row: sha1, page_url, picture_url, category, colour, shop, width, height.
``v000007/copy.faiss``, ``copy_vectors.npy``, ``copy_owners.npy``, ``copy_whitening.npz``
    the copy index (present when the model has a ``copy_embedding`` output; index.json's
    "copy": {"dim", "views", "kind", "whitened": "pca" | "centred", "threshold"}): every item's copy descriptors,
    one row per view of its picture (``copy_owners``: the item row of each view; several
    views per picture: database-side augmentation, ``serving.index.build``), PCA-whitened
    (``Whitening``, fitted on the views of the index's first build, then kept for appends;
    only centred when that build has fewer than ``WHITEN_MIN_VIEWS``) and L2-normalised, in a
    FAISS inner-product index of the same kinds as above. "threshold": the copy similarity
    from which a catalogue picture counts as the query's original (near-duplicate),
    calibrated when it was built (``build``).
``v000007/local_points.npy``, ``local_descriptors.npy``, ``local_offsets.npy``
    each item's ORB keypoints (``serving.index.local.LocalStore``: float16 positions, uint8
    descriptors, row i's from offsets[i] to offsets[i + 1]), present when the build had the
    pictures; index.json's "copy" then also holds "min_inliers": the verified matches from
    which a candidate is the query's original, calibrated with the threshold.

Ranking: near-duplicates first, marked ``match="copy"``: where the index has keypoints and
the query brings its own, the ``VERIFY_DEPTH`` items nearest by copy similarity (query's copy
descriptor against the item's views, maximum over views) are verified
(``serving.index.local.best_inliers``) and those with at least "min_inliers" inliers are
copies, most inliers first; otherwise products whose best view's copy similarity reaches
the threshold, best first. Then the similarity ranking (``match="similar"``): by score =
cosine similarity with the query expanded (average query expansion, Chum et al. 2007: the
query's embedding plus those of its ``QUERY_EXPANSION`` nearest rows, renormalised; each
result still reports its cosine similarity to the query itself), or, when the search is
given the query picture's
category prior, + ``CATEGORY_PRIOR`` x the probability the model gives the query picture
for the item's category (its top-3 labels; 0 for other categories); one result per
product (its best picture; a product is its page URL), optional filters on category,
colour and shop, ties (equal to 1e-4) toward the picture with more pixels. The prior
re-ranks the nearest ``RERANK_DEPTH`` rows by cosine (it adds at most ``CATEGORY_PRIOR``).
On clothing-small it lifts precision@5 of same-category products (0.8545 -> 0.9021,
bench/visual_search.py); the API applies it on request only (``rank=category``), the
default ranking being the embeddings' similarity alone.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from serving.index.local import LocalFeatures, LocalStore, best_inliers
from shoplens import ShopLensError

FORMAT = 1
CURRENT = "CURRENT"
EXACT_MAX_ITEMS = 50_000  # exact search answers in milliseconds up to here on 2 cores; HNSW above
COPY_DIM = 256  # whitened copy dimensions kept: 100,000 items x 5 views x 256 x 4 bytes = 512 MB
WHITEN_POWER = 0.5  # divide each direction by its spread to this power (1: full whitening); 0.5 and 1 alike (README)
WHITEN_MIN_VIEWS = 4 * COPY_DIM  # fewer views give an unstable whitening: a smaller first build is only centred
WHITEN_FIT_SAMPLE = 50_000  # views the whitening is fitted on (a seeded sample of a larger catalogue)
HNSW_NEIGHBOURS = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
CATEGORY_PRIOR = 0.2  # tuned on clothing-small validation (bench/visual_search.py): 0.1 and 0.5 measured too
QUERY_EXPANSION = 2  # nearest rows averaged into the query: precision@5 0.8499 -> 0.8557 on clothing-small,
# and 0.8522 to 0.8557 for 2, 3 or 5 rows; with the category prior it lowers precision@5 (0.9021 -> 0.8868),
# so rank=category does without it (bench/visual_search.py; README)
RERANK_DEPTH = 128  # rows re-ranked with the prior: enough that a boosted row from further down is seen
COPY_DEPTH = 64  # copy-index views looked at per query: near-duplicates are few, a product has a few views
VERIFY_DEPTH = 32  # items verified per query: the original is among the first 32 by copy similarity for
# 0.994 of clothing-small's altered validation pictures (bench/visual_search.py); about 2 ms each
TIE = 1e-4  # similarities closer than this are a tie, broken toward the larger picture
KEEP_VERSIONS = 3  # older versions are removed (a worker may still be reading the previous one)
RECHECK_SECONDS = 1.0  # how often a running API looks for a new version
ITEM_FIELDS = ("sha1", "page_url", "picture_url", "category", "colour", "shop", "width", "height")


@dataclass(frozen=True)
class Filters:
    category: str | None = None
    colour: str | None = None
    shop: str | None = None

    def active(self) -> dict[str, str]:
        return {name: value for name, value in asdict(self).items() if value}


@dataclass(frozen=True)
class Hit:
    item: dict[str, Any]
    similarity: float  # cosine similarity of the embeddings
    score: float  # what the ranking sorts by: similarity plus the category prior; for a copy, its copy similarity
    match: str = "similar"  # "copy": a near-duplicate of the query picture (verified, or over the threshold)
    inliers: int | None = None  # for a verified copy: its keypoint matches that agree with the query's


@dataclass(frozen=True)
class Whitening:
    """PCA-whitening of copy descriptors (Jegou and Chum 2012; Radenovic et al. learn it the same way):
    centre, project on the leading principal directions, divide by their spread, renormalise. It evens
    out the channels that every picture of a catalogue shares (white backgrounds, shop lighting), which
    otherwise dominate the cosine between two pictures, and cuts the dimension to COPY_DIM."""

    mean: np.ndarray  # (C,)
    projection: np.ndarray  # (dim, C)

    @property
    def kind(self) -> str:
        """"pca", or "centred" (fitted on fewer than WHITEN_MIN_VIEWS views: the identity projection)."""
        square = self.projection.shape[0] == self.projection.shape[1]
        return "centred" if square and np.array_equal(self.projection, np.eye(len(self.mean))) else "pca"

    @classmethod
    def fit(cls, vectors: np.ndarray, dim: int = COPY_DIM) -> Whitening:
        """Fitted on these views; only centred (the mean taken out, no projection) below WHITEN_MIN_VIEWS."""
        rng = np.random.default_rng(0)
        sample = vectors if len(vectors) <= WHITEN_FIT_SAMPLE else vectors[
            rng.choice(len(vectors), WHITEN_FIT_SAMPLE, replace=False)]
        mean = sample.mean(0)
        if len(sample) < WHITEN_MIN_VIEWS:
            return cls(mean.astype(np.float32), np.eye(len(mean), dtype=np.float32))
        _, spread, directions = np.linalg.svd(sample - mean, full_matrices=False)
        dim = min(dim, len(spread))
        scale = np.maximum(spread[:dim] / np.sqrt(len(sample)), 1e-6) ** WHITEN_POWER
        return cls(mean.astype(np.float32), (directions[:dim] / scale[:, None]).astype(np.float32))

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        projected = (np.asarray(vectors, dtype=np.float32) - self.mean) @ self.projection.T
        return projected / np.maximum(np.linalg.norm(projected, axis=1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class CopyViews:
    """An index's copy descriptors: one row per view of a picture, ``owners`` its item row; whitened by
    the whitening fitted on the views of the index's first build (appends reuse it; ``--fresh`` fits
    it anew, worth doing once a catalogue that began below WHITEN_MIN_VIEWS views has grown);
    ``threshold``: the copy similarity from which an item counts as the query's original (None: not
    calibrated, nothing is marked a copy); ``local``: every item's keypoints, and ``min_inliers``
    the verified matches from which an item is the original (None: not verifiable)."""

    vectors: np.ndarray  # (views, dim) float32, unit length
    owners: np.ndarray  # (views,) int64
    whitening: Whitening | None = None
    threshold: float | None = None
    local: LocalStore | None = None  # per item row
    min_inliers: int | None = None

    @property
    def verifiable(self) -> bool:
        return self.local is not None and self.min_inliers is not None

    def added(self, raw: np.ndarray, owners: np.ndarray) -> CopyViews:
        """These views (raw copy descriptors, unit length) appended, whitened; the whitening fitted on them
        when these are the first (then the threshold is to be calibrated)."""
        owners = np.concatenate([self.owners, np.asarray(owners, dtype=np.int64)])
        whitening = self.whitening or Whitening.fit(np.asarray(raw, dtype=np.float32))
        vectors = whitening.apply(raw)
        if len(self.owners):
            vectors = np.concatenate([self.vectors, vectors])
        calibrated = self.whitening is not None
        return CopyViews(vectors, owners, whitening, self.threshold if calibrated else None, self.local,
                         self.min_inliers if calibrated else None)

    def with_local(self, features: list[LocalFeatures]) -> CopyViews:
        """These items' keypoints appended (in item order, after those already held)."""
        added = LocalStore.of(features)
        return dataclasses.replace(self, local=added if self.local is None else self.local.added(added))

    def kept(self, rows: np.ndarray) -> CopyViews:
        """The views of these item rows only, owners renumbered to their positions in `rows`."""
        renumber = np.full(int(self.owners.max(initial=-1)) + 1, -1, dtype=np.int64)
        renumber[rows] = np.arange(len(rows))
        keep = renumber[self.owners] >= 0
        return CopyViews(self.vectors[keep], renumber[self.owners[keep]], self.whitening, self.threshold,
                         self.local and self.local.kept(rows), self.min_inliers)

    def query(self, raw: np.ndarray) -> np.ndarray:
        """A query's raw copy descriptor as the views are stored (whitened where they are)."""
        raw = np.asarray(raw, dtype=np.float32).reshape(1, -1)
        return (self.whitening.apply(raw) if self.whitening is not None else raw)[0]


def empty_copy_views() -> CopyViews:
    return CopyViews(np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64))


def category_prior(labels: list[dict[str, Any]] | None) -> dict[str, float]:
    """The query picture's category probabilities from its answer's top labels
    ([{"label", "probability"}], as shoplens.classifier.describe writes them)."""
    return {label["label"]: float(label["probability"]) for label in labels or []}


def make_faiss_index(vectors: np.ndarray) -> tuple[Any, str]:
    """The FAISS index for these unit vectors and its kind, chosen by size."""
    dim = vectors.shape[1]
    if len(vectors) <= EXACT_MAX_ITEMS:
        index, kind = faiss.IndexFlatIP(dim), "flat"
    else:
        index, kind = faiss.IndexHNSWFlat(dim, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT), "hnsw"
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    index.add(vectors)
    return index, kind


def current_name(root: Path) -> str | None:
    try:
        return (root / CURRENT).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def write_version(root: Path, vectors: np.ndarray, items: list[dict[str, Any]],
                  model_version: str, model_arch: str, copies: CopyViews | None = None) -> str:
    """Writes the next version of the index under `root`, makes it current and returns its name;
    `copies`: the copy index (None for a model without copy descriptors)."""
    if len(vectors) != len(items) or not len(items):
        raise ShopLensError("an index needs at least one item, with one vector each")
    if copies is not None and set(np.unique(copies.owners).tolist()) != set(range(len(items))):
        raise ShopLensError("the copy index needs at least one view of every item, and none of another")
    if copies is not None and copies.local is not None and len(copies.local) != len(items):
        raise ShopLensError("the copy index needs the keypoints of every item, or of none")
    root.mkdir(parents=True, exist_ok=True)
    previous = current_name(root)
    name = f"v{(int(previous[1:]) if previous else 0) + 1:06d}"
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    index, kind = make_faiss_index(vectors)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    info = {"format": FORMAT, "version": name, "model_version": model_version, "model_arch": model_arch,
            "dim": int(vectors.shape[1]), "count": len(items), "kind": kind,
            "created": datetime.now(UTC).isoformat(timespec="seconds")}
    np.save(staging / "vectors.npy", vectors)
    faiss.write_index(index, str(staging / "index.faiss"))
    if copies is not None:
        info["copy"] = _write_copies(staging, copies)
    (staging / "items.json").write_text(json.dumps(items), encoding="utf-8")
    (staging / "index.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    os.replace(staging, root / name)
    pointer = root / f".{CURRENT}.tmp"
    pointer.write_text(name + "\n", encoding="utf-8")
    os.replace(pointer, root / CURRENT)
    _prune(root, name)
    return name


def _write_copies(folder: Path, copies: CopyViews) -> dict[str, Any]:
    views = np.ascontiguousarray(copies.vectors, dtype=np.float32)
    index, kind = make_faiss_index(views)
    np.save(folder / "copy_vectors.npy", views)
    np.save(folder / "copy_owners.npy", copies.owners.astype(np.int64))
    faiss.write_index(index, str(folder / "copy.faiss"))
    if copies.whitening is not None:
        np.savez(folder / "copy_whitening.npz", mean=copies.whitening.mean, projection=copies.whitening.projection)
    if copies.local is not None:
        for name, array in LOCAL_ARRAYS.items():
            np.save(folder / name, getattr(copies.local, array))
    return {"dim": int(views.shape[1]), "views": len(views), "kind": kind,
            "whitened": copies.whitening.kind if copies.whitening else "no", "threshold": copies.threshold,
            "keypoints": None if copies.local is None else len(copies.local.points), "min_inliers": copies.min_inliers}


def _read_copies(folder: Path, info: dict[str, Any]) -> tuple[CopyViews, Any]:
    whitening = None
    if info["whitened"] != "no":
        with np.load(folder / "copy_whitening.npz") as stored:
            whitening = Whitening(stored["mean"], stored["projection"])
    local = None
    if info.get("keypoints") is not None:
        local = LocalStore(**{array: np.load(folder / name, mmap_mode="r") for name, array in LOCAL_ARRAYS.items()})
    views = CopyViews(np.load(folder / "copy_vectors.npy", mmap_mode="r"), np.load(folder / "copy_owners.npy"),
                      whitening, info["threshold"], local, info.get("min_inliers"))
    index = _read_faiss(folder / "copy.faiss")
    if index.ntotal != len(views.owners):
        raise ShopLensError(f"{folder}'s copy index is incomplete")
    if info["kind"] == "hnsw":
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return views, index


LOCAL_ARRAYS = {"local_points.npy": "points", "local_descriptors.npy": "descriptors", "local_offsets.npy": "offsets"}


def _prune(root: Path, live: str) -> None:
    versions = sorted(path for path in root.glob("v[0-9]*") if path.is_dir() and path.name != live)
    for old in versions[: max(0, len(versions) - (KEEP_VERSIONS - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def _read_faiss(path: Path) -> Any:
    """Read-only and memory-mapped where FAISS can map the index type; read into memory otherwise."""
    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:
        return faiss.read_index(str(path), faiss.IO_FLAG_READ_ONLY)


class CatalogueIndex:
    """One version of the index, loaded read-only."""

    def __init__(self, folder: Path) -> None:
        try:
            self.info = json.loads((folder / "index.json").read_text(encoding="utf-8"))
            self.items = json.loads((folder / "items.json").read_text(encoding="utf-8"))
            self.vectors = np.load(folder / "vectors.npy", mmap_mode="r")
            self.index = _read_faiss(folder / "index.faiss")
            self.copies, self.copy_index = _read_copies(folder, self.info["copy"]) if self.info.get("copy") else (
                None, None)
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ShopLensError(f"cannot read the index in {folder}: {exc}") from None
        if self.info.get("format") != FORMAT or len(self.items) != self.index.ntotal:
            raise ShopLensError(f"{folder} is not a complete index of format {FORMAT}")
        if self.info["kind"] == "hnsw":
            self.index.hnsw.efSearch = HNSW_EF_SEARCH
        self.columns = {field: np.asarray([str(item.get(field) or "") for item in self.items])
                        for field in ("category", "colour", "shop")}
        self.pixels = np.asarray([int(item.get("width") or 0) * int(item.get("height") or 0) for item in self.items])

    @property
    def version(self) -> str:
        return self.info["version"]

    @property
    def model_version(self) -> str:
        return self.info["model_version"]

    def allowed(self, filters: Filters) -> np.ndarray | None:
        """Row numbers passing the filters (None: no filter)."""
        active = filters.active()
        if not active:
            return None
        mask = np.ones(len(self.items), dtype=bool)
        for field, value in active.items():
            mask &= self.columns[field] == value
        return np.flatnonzero(mask)

    def _candidates(self, query: np.ndarray, depth: int, allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(similarities, rows) of the `depth` nearest rows, best first."""
        if allowed is not None:  # filtered: exact over the allowed rows
            scores = np.asarray(self.vectors[allowed]) @ query
            top = np.argsort(-scores, kind="stable")[:depth]
            return scores[top], allowed[top]
        if self.info["kind"] == "hnsw":
            self.index.hnsw.efSearch = max(HNSW_EF_SEARCH, depth)
        scores, rows = self.index.search(query[None, :], depth)
        keep = rows[0] >= 0
        return scores[0][keep], rows[0][keep]

    def search(self, query: np.ndarray, k: int, filters: Filters = Filters(),
               prior: dict[str, float] | None = None, copy_query: np.ndarray | None = None,
               local_query: tuple[LocalFeatures, ...] | None = None, expansion: int = QUERY_EXPANSION,
               seconds: dict[str, float] | None = None) -> list[Hit]:
        """The k best products for a unit query embedding: one hit per product; first the near-duplicates
        of the picture whose copy descriptor is `copy_query` (where given and the index has a calibrated
        copy index; verified with the picture's keypoints `local_query`, ``local.query_features``, where
        given and the index holds keypoints), then the rest by similarity, ties toward larger pictures;
        `prior`: the query's category probabilities (``category_prior``), added to the similarity score
        with weight ``CATEGORY_PRIOR``; `expansion`: the nearest rows averaged into the query (0: none);
        `seconds`, where given, receives the time spent finding copies ("copies") and ranking ("search")."""
        began = time.perf_counter()
        query = np.ascontiguousarray(query, dtype=np.float32).reshape(-1)
        allowed = self.allowed(filters)
        copies = self._copies(query, copy_query, k, allowed, local_query) if copy_query is not None else []
        listed = {_product(hit.item) for hit in copies}
        copied = time.perf_counter()
        similar = self._similar(query, k + len(copies), allowed, prior, expansion)
        if seconds is not None:
            seconds.update(copies=copied - began, search=time.perf_counter() - copied)
        return (copies + [hit for hit in similar if _product(hit.item) not in listed])[:k]

    def _copies(self, query: np.ndarray, copy_query: np.ndarray, k: int, allowed: np.ndarray | None,
                local_query: tuple[LocalFeatures, ...] | None) -> list[Hit]:
        """The query picture's near-duplicates: verified (where both sides have keypoints), else the products
        with a view at or above the copy threshold, by their best view's copy similarity."""
        if self.copies is None:
            return []
        if local_query is not None and self.copies.verifiable:
            return self._verified(query, copy_query, k, allowed, local_query)
        if self.copies.threshold is None:
            return []
        scores, rows = self._copy_candidates(copy_query, COPY_DEPTH, allowed)
        close = scores >= self.copies.threshold
        best: dict[str, tuple[float, int]] = {}
        for score, row in zip(scores[close].tolist(), rows[close].tolist(), strict=True):
            product = _product(self.items[row])
            if product not in best or self._better((score, row), best[product]):
                best[product] = (score, row)
        ranked = sorted(best.values(), key=lambda pair: (-round(pair[0] / TIE), -self.pixels[pair[1]]))[:k]
        return [Hit(self.items[row], float(np.asarray(self.vectors[row]) @ query), score, "copy")
                for score, row in ranked]

    def _copy_candidates(self, copy_query: np.ndarray, depth: int, allowed: np.ndarray | None
                         ) -> tuple[np.ndarray, np.ndarray]:
        """(copy similarities, item rows) of the `depth` views nearest the query's copy descriptor, best first."""
        wanted = self.copies.query(copy_query)
        if allowed is not None:  # filtered: exact over the allowed items' views
            views = np.flatnonzero(np.isin(self.copies.owners, allowed))
            scores = np.asarray(self.copies.vectors[views]) @ wanted
            top = np.argsort(-scores, kind="stable")[:depth]
            scores, views = scores[top], views[top]
        else:
            found, views = self.copy_index.search(wanted[None, :], min(len(self.copies.owners), depth))
            keep = views[0] >= 0
            scores, views = found[0][keep], views[0][keep]
        return scores, self.copies.owners[views]

    def _verified(self, query: np.ndarray, copy_query: np.ndarray, k: int, allowed: np.ndarray | None,
                  local_query: tuple[LocalFeatures, ...]) -> list[Hit]:
        """The VERIFY_DEPTH items nearest by copy similarity whose keypoints agree with the query's in at least
        min_inliers matches, one per product, most inliers first (then copy similarity)."""
        views_per_item = -(-len(self.copies.owners) // len(self.items))
        scores, rows = self._copy_candidates(copy_query, VERIFY_DEPTH * views_per_item, allowed)
        nearest: dict[int, float] = {}
        for score, row in zip(scores.tolist(), rows.tolist(), strict=True):
            if len(nearest) < VERIFY_DEPTH:
                nearest.setdefault(row, score)
        best: dict[str, tuple[int, float, int]] = {}
        for row, score in nearest.items():
            agreeing = best_inliers(local_query, self.copies.local[row])
            product = _product(self.items[row])
            if agreeing >= self.copies.min_inliers and (agreeing, score) > best.get(product, (-1, 0.0))[:2]:
                best[product] = (agreeing, score, row)
        ranked = sorted(best.values(), key=lambda found: (-found[0], -found[1]))[:k]
        return [Hit(self.items[row], float(np.asarray(self.vectors[row]) @ query), score, "copy", agreeing)
                for agreeing, score, row in ranked]

    def _similar(self, query: np.ndarray, k: int, allowed: np.ndarray | None,
                 prior: dict[str, float] | None, expansion: int) -> list[Hit]:
        total = len(self.items) if allowed is None else len(allowed)
        depth = min(total, max(4 * k, RERANK_DEPTH if prior else 32))
        expanded = self._expanded(query, 0 if prior else expansion, allowed)  # the prior does better alone
        while True:
            hits = self._collapse(*self._candidates(expanded, depth, allowed), prior or {}, query)
            if len(hits) >= k or depth >= total:
                return hits[:k]
            depth = min(total, depth * 4)

    def _expanded(self, query: np.ndarray, expansion: int, allowed: np.ndarray | None) -> np.ndarray:
        """The query plus its `expansion` nearest rows' embeddings, unit length: neighbours that are surely
        relevant pull the query toward what the catalogue's pictures of its kind share."""
        if not expansion:
            return query
        _, rows = self._candidates(query, expansion, allowed)
        expanded = query + np.asarray(self.vectors[np.sort(rows)]).sum(0)
        return (expanded / max(float(np.linalg.norm(expanded)), 1e-12)).astype(np.float32)

    def _better(self, one: tuple[float, int], other: tuple[float, int]) -> bool:
        """Whether (score, row) `one` outranks `other`: a higher score, or as high and more pixels."""
        if abs(one[0] - other[0]) > TIE:
            return one[0] > other[0]
        return self.pixels[one[1]] > self.pixels[other[1]]

    def _collapse(self, similarities: np.ndarray, rows: np.ndarray, prior: dict[str, float], query: np.ndarray
                  ) -> list[Hit]:
        """One hit per product from these (expanded-query similarities, rows); each hit's similarity is to `query`."""
        best: dict[str, tuple[float, int]] = {}
        similarity_of = dict(zip(rows.tolist(), similarities.tolist(), strict=True))
        for row, similarity in similarity_of.items():
            item = self.items[row]
            score = similarity + CATEGORY_PRIOR * prior.get(item["category"], 0.0)
            product = _product(item)
            held = best.get(product)
            if held is None or self._better((score, row), held):
                best[product] = (score, row)
        ranked = sorted(best.values(), key=lambda pair: (-round(pair[0] / TIE), -self.pixels[pair[1]]))
        return [Hit(self.items[row], float(np.asarray(self.vectors[row]) @ query), float(score))
                for score, row in ranked]


def _product(item: dict[str, Any]) -> str:
    """A product is its page URL (a picture without one is a product of its own)."""
    return item.get("page_url") or item["sha1"]


def load_current(root: Path) -> CatalogueIndex | None:
    """The live version under `root`, None when there is none."""
    name = current_name(root)
    return CatalogueIndex(root / name) if name else None


class LiveIndex:
    """The current version under a folder, for a long-running reader: CURRENT is checked at most once a
    second and a new version loaded when it changes (no restart); a version that cannot be read leaves
    the previous one in service and says why."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root) if root else None
        self._loaded: CatalogueIndex | None = None
        self._checked = -RECHECK_SECONDS
        self._problem = "no catalogue index configured (SHOPLENS_INDEX_DIR)" if self.root is None else ""
        self._lock = threading.Lock()

    def current(self) -> tuple[CatalogueIndex | None, str]:
        """(the live index or None, why there is none)."""
        if self.root is not None and time.monotonic() - self._checked >= RECHECK_SECONDS:
            with self._lock:
                self._refresh()
        return self._loaded, self._problem

    def _refresh(self) -> None:
        self._checked = time.monotonic()
        name = current_name(self.root)
        if name is None:
            self._problem = f"no catalogue index built in {self.root} yet (shoplens-index build)"
            return
        if self._loaded is not None and self._loaded.version == name:
            return
        try:
            self._loaded, self._problem = CatalogueIndex(self.root / name), ""
        except ShopLensError as exc:
            self._problem = str(exc)
