"""A versioned catalogue index on disk: its format, writing a version and reading its files.

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

How a version is searched is ``serving.index.ranking``'s; the API's live view of the newest is
``serving.index.live``'s.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from serving.index.local import LocalFeatures, LocalStore
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
KEEP_VERSIONS = 3  # older versions are removed (a worker may still be reading the previous one)
ITEM_FIELDS = ("sha1", "page_url", "picture_url", "category", "colour", "shop", "width", "height")


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


def read_copies(folder: Path, info: dict[str, Any]) -> tuple[CopyViews, Any]:
    whitening = None
    if info["whitened"] != "no":
        with np.load(folder / "copy_whitening.npz") as stored:
            whitening = Whitening(stored["mean"], stored["projection"])
    local = None
    if info.get("keypoints") is not None:
        local = LocalStore(**{array: np.load(folder / name, mmap_mode="r") for name, array in LOCAL_ARRAYS.items()})
    views = CopyViews(np.load(folder / "copy_vectors.npy", mmap_mode="r"), np.load(folder / "copy_owners.npy"),
                      whitening, info["threshold"], local, info.get("min_inliers"))
    index = read_faiss(folder / "copy.faiss")
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


def read_faiss(path: Path) -> Any:
    """Read-only and memory-mapped where FAISS can map the index type; read into memory otherwise."""
    try:
        return faiss.read_index(str(path), faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY)
    except RuntimeError:
        return faiss.read_index(str(path), faiss.IO_FLAG_READ_ONLY)
