"""Searching one version of the catalogue index (its format: ``serving.index.format``).

Ranking: near-duplicates first, marked ``match="copy"``: where the index has keypoints and
the query brings its own, the ``VERIFY_DEPTH`` items nearest by copy similarity (query's copy
descriptor against the item's views, maximum over views) are verified
(``serving.index.local.best_inliers``) and those with at least "min_inliers" inliers are
copies, most inliers first (after a clear copy, only candidates at the copy threshold are
verified); otherwise products whose best view's copy similarity reaches the threshold, best
first. Then the similarity ranking (``match="similar"``): by score =
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

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serving.index.format import FORMAT, HNSW_EF_SEARCH, read_copies, read_faiss
from serving.index.local import LocalFeatures, best_inliers
from shoplens import ShopLensError

CATEGORY_PRIOR = 0.2  # tuned on clothing-small validation (bench/visual_search.py): 0.1 and 0.5 measured too
QUERY_EXPANSION = 2  # nearest rows averaged into the query: precision@5 0.8499 -> 0.8557 on clothing-small,
# and 0.8522 to 0.8557 for 2, 3 or 5 rows; with the category prior it lowers precision@5 (0.9021 -> 0.8868),
# so rank=category does without it (bench/visual_search.py; README)
RERANK_DEPTH = 128  # rows re-ranked with the prior: enough that a boosted row from further down is seen
COPY_DEPTH = 64  # copy-index views looked at per query: near-duplicates are few, a product has a few views
VERIFY_DEPTH = 16  # items verified per query: with the one-view starter the original is found first for 341 of
# 341 altered validation pictures at 16 as at 32, in 23 ms p50 a search instead of 37 (bench/visual_search.py)
CLEAR_COPY_FACTOR = 3  # a candidate with this many times min_inliers is the query's original beyond doubt: after
# it only candidates at or above the copy threshold (other listings of the same picture) are verified; on
# clothing-small the same altered-copy recall, copies' search p50 18.8 -> 3.1 ms (bench/visual_search.py)
TIE = 1e-4  # similarities closer than this are a tie, broken toward the larger picture


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


def category_prior(labels: list[dict[str, Any]] | None) -> dict[str, float]:
    """The query picture's category probabilities from its answer's top labels
    ([{"label", "probability"}], as shoplens.classifier.describe writes them)."""
    return {label["label"]: float(label["probability"]) for label in labels or []}


class CatalogueIndex:
    """One version of the index, loaded read-only."""

    def __init__(self, folder: Path) -> None:
        try:
            self.info = json.loads((folder / "index.json").read_text(encoding="utf-8"))
            self.items = json.loads((folder / "items.json").read_text(encoding="utf-8"))
            self.vectors = np.load(folder / "vectors.npy", mmap_mode="r")
            self.index = read_faiss(folder / "index.faiss")
            self.copies, self.copy_index = read_copies(folder, self.info["copy"]) if self.info.get("copy") else (
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
        min_inliers matches, one per product, most inliers first (then copy similarity). Once one is a clear
        copy (CLEAR_COPY_FACTOR), only the candidates at or above the copy threshold are verified after it."""
        best: dict[str, tuple[int, float, int]] = {}
        clear = CLEAR_COPY_FACTOR * self.copies.min_inliers
        found_clear = False
        for row, score in self._nearest_items(copy_query, allowed):
            if found_clear and (self.copies.threshold is None or score < self.copies.threshold):
                break
            agreeing = best_inliers(local_query, self.copies.local[row], enough=clear)
            product = _product(self.items[row])
            if agreeing >= self.copies.min_inliers and (agreeing, score) > best.get(product, (-1, 0.0))[:2]:
                best[product] = (agreeing, score, row)
            found_clear = found_clear or agreeing >= clear
        ranked = sorted(best.values(), key=lambda found: (-found[0], -found[1]))[:k]
        return [Hit(self.items[row], float(np.asarray(self.vectors[row]) @ query), score, "copy", agreeing)
                for agreeing, score, row in ranked]

    def _nearest_items(self, copy_query: np.ndarray, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        """(item row, its best view's copy similarity) of the VERIFY_DEPTH items nearest the query, nearest first."""
        views_per_item = -(-len(self.copies.owners) // len(self.items))
        scores, rows = self._copy_candidates(copy_query, VERIFY_DEPTH * views_per_item, allowed)
        nearest: dict[int, float] = {}
        for score, row in zip(scores.tolist(), rows.tolist(), strict=True):
            if len(nearest) < VERIFY_DEPTH:
                nearest.setdefault(row, score)
        return list(nearest.items())

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
