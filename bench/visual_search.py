"""Benchmark: visual search ("more like this") and finding altered copies, on clothing-small, on this machine.

Every query goes through the ranking /v1/similar uses (``CatalogueIndex.search`` with the picture's
embedding and copy descriptor: near-duplicates first, then by similarity), on an index built as
``shoplens-index build`` builds it: each catalogue picture's embedding, and the copy descriptors of
the picture and its database views (``serving.index.build.database_views``), PCA-whitened.

0. The copy threshold, chosen without the validation pictures: the train pictures make the index
   (whitening fitted on their views), and altered copies (all five alterations, the crop at a
   seeded random position) of a seeded sample of them calibrate it
   (``serving.index.build.calibrated_threshold``), as a build calibrates it on its own catalogue.
   The validation pictures are then appended with that whitening and threshold, as an update is.
1. Retrieval: gallery = train split, queries = validation split, relevant = same class:
   precision@1/5/10 and mean average precision@10 (AP@10 normalised by min(10, relevant)).
2. Reverse image search: each validation picture altered (crop 80 %, resize 50 %, JPEG
   quality 40, horizontal flip, 5 degree rotation: ``serving.index.alterations``) and queried
   against all train+validation pictures: recall@1 of the original, with the crop at the centre
   and at a seeded random position, then each alteration alone; the similarity ranking alone
   (before copy detection) beside it.
3. Scale (unless --no-scale): the gallery padded to 100,000 items with synthetic vectors (real ones
   plus noise, renormalised), which makes the index HNSW: recall@10 of the approximate index against
   exact search for the validation queries, and the index's query latency p50/p99 (the search call
   /v1/similar makes per uncached query, collapse to products included), with the load average.

1 and 2 are printed for both of the API's rankings: rank=similarity (the default) and rank=category
(similarity plus the query picture's category prior, serving.index.ranking.CATEGORY_PRIOR).

The model is the starter model (models/starter) unless --bundle names another; it runs eager where
the bundle has no export (as TorchServe's handler does), else on its ONNX export. Embeddings are
cached (~/.cache/shoplens/visual-search). Every figure carries n and a 95 % interval (t over
queries; Wilson for recall). Skips when the dataset is absent.

    nice -n 10 .venv/bin/python bench/visual_search.py [--data DIR] [--bundle DIR] [--no-scale]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from clothing_small import DEFAULT_DATA, absent
from PIL import Image

from network.export import bundle_predictor
from serving.index.alterations import ALTERATIONS, altered, flip
from serving.index.build import (
    CALIBRATION_PICTURES,
    calibrated_min_inliers,
    calibrated_threshold,
    calibration_scores,
    database_views,
    mirror_variant,
)
from serving.index.format import CopyViews, current_name, empty_copy_views, write_version
from serving.index.local import (
    KEYPOINTS,
    QUERY_KEYPOINTS,
    VERIFY_SIDE,
    LocalFeatures,
    LocalStore,
    local_features,
    query_features,
)
from serving.index.ranking import RERANK_DEPTH, CatalogueIndex, category_prior
from serving.operations.cli import STARTER_BUNDLE
from shoplens.bundle import read_bundle
from shoplens.classifier import describe
from shoplens.exported import COPY_EMBEDDING, EMBEDDING
from shoplens.imaging import decode_image
from shoplens.preprocessing import eval_batch
from shoplens.stats import t_interval, wilson_interval

CACHE = Path("~/.cache/shoplens/visual-search").expanduser()
SCALE_ITEMS = 100_000
BATCH = 16
SEED = 7


def pictures(folder: Path) -> list[tuple[Path, str]]:
    return sorted((path, path.parent.name) for path in folder.glob("*/*") if path.is_file())


def altering(names: tuple[str, ...], seed: int | None = None) -> Callable[[Path], Image.Image]:
    """A loader that applies these alterations; the crop at a random position (seeded per picture) where
    `seed` is given, else at the centre."""
    def load(path: Path) -> Image.Image:
        rng = random.Random(f"{seed}:{path.name}") if seed is not None else None
        return altered(decode_image(path), names, rng)

    return load


class Embedded:
    """Pictures through the model: embeddings, category priors, copy descriptors of each picture and of its
    database views (owners: the picture's position), cached under the bundle's version."""

    def __init__(self, bundle: Path, name: str, paths: list[Path], load: Callable[[Path], Image.Image],
                 views: bool = False) -> None:
        info, _ = read_bundle(bundle)
        cached = cache_file(bundle, name, len(paths), views)
        if not cached.is_file():
            np.savez(cached, **_embed(bundle, paths, load, views))
        stored = np.load(cached)
        self.vectors, self.copies, self.owners = stored["vectors"], stored["copies"], stored["owners"]
        self.priors = [category_prior(describe({"category": row}, info, None, 0.0)["labels"])
                       for row in stored["category"]]

    def first_views(self) -> np.ndarray:
        """Each picture's own copy descriptor (its first view): what a query sends."""
        return self.copies[np.searchsorted(self.owners, np.arange(len(self.vectors)))]


def cache_file(bundle: Path, name: str, count: int, views: bool) -> Path:
    """Where Embedded caches these pictures' outputs under the bundle's version."""
    info, _ = read_bundle(bundle)
    key = hashlib.sha256(f"{info.version}{info.data_digest}{name}{count}{views}".encode()).hexdigest()[:16]
    return CACHE / f"{name}-{key}.npz"


def keypoints(name: str, paths: list[Path], load: Callable[[Path], Image.Image], query: bool
              ) -> list[tuple[LocalFeatures, ...]]:
    """Each picture's keypoints as the index stores them, or (`query`) as /v1/similar finds a query's: the
    picture's and its mirror image's; cached."""
    found_per_picture = QUERY_KEYPOINTS if query else KEYPOINTS
    key = hashlib.sha256(f"{name}{len(paths)}{query}{VERIFY_SIDE}{found_per_picture}".encode()).hexdigest()[:16]
    cached = CACHE / f"keypoints-{name}-{key}.npz"
    fields = ("points", "descriptors", "offsets")
    if not cached.is_file():
        found = [query_features(load(path)) if query else (local_features(load(path)),) for path in paths]
        if None in found:
            sys.exit(f"{name}: a query picture is too small to verify; clothing-small's are not")
        stores = [LocalStore.of([forms[form] for forms in found]) for form in range(len(found[0]))]
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(cached, **{f"{form}-{field}": getattr(store, field) for form, store in enumerate(stores)
                            for field in fields})
    stored = np.load(cached)
    stores = [LocalStore(*(stored[f"{form}-{field}"] for field in fields)) for form in range(2 if query else 1)]
    return [tuple(store[row] for store in stores) for row in range(len(paths))]


def altered_name(names: tuple[str, ...], seed: int | None) -> str:
    """The cache name of validation pictures altered so."""
    return "altered-" + "-".join(names).replace(" ", "").replace("%", "") + (f"-seed{seed}" if seed is not None else "")


def _embed(bundle: Path, paths: list[Path], load: Callable[[Path], Image.Image], views: bool) -> dict[str, np.ndarray]:
    info, _ = read_bundle(bundle)
    predict = bundle_predictor(bundle, "onnx")
    vectors, category, copies, owners, mirror = [], [], [], [], None
    for start in range(0, len(paths), BATCH):
        images = [load(path) for path in paths[start:start + BATCH]]
        if views and mirror is None:
            mirror = mirror_variant(predict(eval_batch([images[0], flip(images[0])], info.preprocessing)))
        per_picture = [[image, *(database_views(image, mirror) if views else [])] for image in images]
        outputs = predict(eval_batch([view for group in per_picture for view in group], info.preprocessing))
        if COPY_EMBEDDING not in outputs:
            sys.exit(f"{bundle}'s model has no copy_embedding output: export it again")
        firsts = np.cumsum([0] + [len(group) for group in per_picture])[:-1]
        vectors.append(outputs[EMBEDDING][firsts])
        category.append(outputs["category"][firsts])
        copies.append(outputs[COPY_EMBEDDING])
        owners.append(np.repeat(np.arange(start, start + len(images)), [len(group) for group in per_picture]))
        print(f"  embedded {start + len(images)}/{len(paths)}", file=sys.stderr, flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    return {"vectors": np.concatenate(vectors).astype(np.float32), "category": np.concatenate(category),
            "copies": np.concatenate(copies).astype(np.float32), "owners": np.concatenate(owners)}


def interval(values: np.ndarray) -> str:
    return f"{t_interval(values)} 95%"


def index_of(vectors: np.ndarray, labels: list[str], folder: Path, copies: CopyViews | None = None,
             model: tuple[str, str] = ("bench", "bench")) -> CatalogueIndex:
    """An index of these vectors (and copy views), item i being product item/i of category labels[i], tagged
    with `model` (version, arch)."""
    items = [{"sha1": str(row), "page_url": f"item/{row}", "picture_url": "", "category": label, "colour": "",
              "shop": "bench", "width": 0, "height": 0} for row, label in enumerate(labels)]
    write_version(folder, vectors, items, *model, copies)
    return CatalogueIndex(folder / current_name(folder))


def padded(real: np.ndarray, labels: list[str], count: int) -> tuple[np.ndarray, list[str], np.ndarray]:
    """`real` vectors padded to `count` with synthetic ones (real ones plus noise, renormalised; category
    "synthetic"), so an index of them is as large as a big catalogue; and each synthetic row's real source."""
    rng = np.random.default_rng(0)
    extra = count - len(real)
    sources = rng.integers(0, len(real), extra)
    return (np.concatenate([real, noisy(real[sources], rng)]).astype(np.float32), labels + ["synthetic"] * extra,
            sources)


def noisy(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors moved a little at random, renormalised."""
    moved = vectors + rng.normal(0, 0.02, vectors.shape).astype(np.float32)
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def retrieval(gallery: CatalogueIndex, queries: Embedded, local: list[tuple[LocalFeatures, ...]],
              query_labels: list[str], use_prior: bool) -> list[str]:
    relevant_total = {label: int((gallery.columns["category"] == label).sum()) for label in set(query_labels)}
    precision = {k: [] for k in (1, 5, 10)}
    average_precision, copies = [], 0
    for vector, copy, local_query, label, prior in zip(queries.vectors, queries.first_views(), local, query_labels,
                                                       queries.priors, strict=True):
        found = gallery.search(vector, 10, prior=prior if use_prior else None, copy_query=copy, local_query=local_query)
        copies += sum(hit.match == "copy" for hit in found)
        hits = np.asarray([hit.item["category"] == label for hit in found], dtype=float)
        for k in precision:
            precision[k].append(hits[:k].mean())
        cumulative = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        average_precision.append(float((cumulative * hits).sum() / min(10, relevant_total[label])))
    lines = [f"precision@{k}: {interval(np.asarray(values))}" for k, values in precision.items()]
    return [*lines, f"mAP@10: {interval(np.asarray(average_precision))}",
            f"results marked copy: {copies} of {10 * len(query_labels)}"]


COPY_MODES = ("verified", "threshold", "similarity alone")  # copies found by keypoints, by the threshold, not at all


def recall_at_1(full: CatalogueIndex, queries: Embedded, local: list[tuple[LocalFeatures, ...]], originals: list[str],
                use_prior: bool, mode: str = COPY_MODES[0]) -> str:
    found, seconds = 0, []
    for vector, copy_query, local_query, prior, original in zip(queries.vectors, queries.first_views(), local,
                                                                queries.priors, originals, strict=True):
        began = time.perf_counter()
        top = full.search(vector, 1, prior=prior if use_prior else None,
                          copy_query=copy_query if mode != "similarity alone" else None,
                          local_query=local_query if mode == "verified" else None)[0]
        seconds.append(time.perf_counter() - began)
        found += top.item["page_url"] == original
    return (f"recall@1 {found}/{len(originals)} = {wilson_interval(found, len(originals))} 95% "
            f"(search {percentiles(seconds)})")


def alteration_sets(alone: bool = True) -> dict[str, tuple[tuple[str, ...], int | None]]:
    """Every alteration together (the crop at the centre, then at a seeded random position), and each alone."""
    names = tuple(ALTERATIONS)
    return {"all five, centre crop": (names, None), "all five, crop at a random position": (names, SEED),
            **({f"{name} alone": ((name,), None) for name in names} if alone else {})}


def calibrated(train: list[Path], train_embedded: Embedded, bundle: Path) -> tuple[CopyViews, str]:
    """The train pictures' copy views (whitening fitted on them) and keypoints, with the threshold and the
    inliers that verify a copy calibrated on altered copies of a seeded sample of them (the validation
    pictures play no part)."""
    copies = empty_copy_views().added(train_embedded.copies, train_embedded.owners)
    copies = copies.with_local([forms[0] for forms in keypoints("train", train, decode_image, query=False)])
    sample = sorted(random.Random(0).sample(range(len(train)), min(CALIBRATION_PICTURES, len(train))))
    alter = altering(tuple(ALTERATIONS), SEED)
    altered_copies = Embedded(bundle, "calibration", [train[row] for row in sample], alter)
    scores = calibration_scores(copies, altered_copies.first_views())
    threshold = calibrated_threshold(copies, scores, np.asarray(sample))
    local = keypoints("calibration", [train[row] for row in sample], alter, query=True)
    min_inliers = calibrated_min_inliers(copies, scores, local, np.asarray(sample))
    copies = dataclasses.replace(copies, threshold=threshold, min_inliers=min_inliers)
    return copies, (f"0. copy threshold {threshold:.4f}, copies verified from {min_inliers} inliers: calibrated on "
                    f"altered copies (all five, random crop position) of {len(sample)} train pictures against the "
                    f"train gallery (n={len(train)}, {len(copies.owners)} views, whitening {copies.whitening.kind})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--bundle", type=Path, default=STARTER_BUNDLE, help="the model (default: the starter model)")
    parser.add_argument("--no-scale", action="store_true", help="leave out 3 (the 100,000-item index: minutes)")
    parser.add_argument("--no-database-views", action="store_true",
                        help="index each picture alone, without its database views (5x fewer model passes)")
    parser.add_argument("--together-only", action="store_true", help="only the five alterations together, not "
                                                                      "each alone (2 sets of queries instead of 7)")
    args = parser.parse_args()
    views = not args.no_database_views
    if absent(args.data):
        return 0
    started = time.perf_counter()
    train, validation = pictures(args.data / "train"), pictures(args.data / "validation")
    train_paths, validation_paths = [path for path, _ in train], [path for path, _ in validation]
    train_embedded = Embedded(args.bundle, "train", train_paths, decode_image, views)
    validation_embedded = Embedded(args.bundle, "validation", validation_paths, decode_image, views)
    labels = [label for _, label in train + validation]
    copies, line = calibrated(train_paths, train_embedded, args.bundle)
    per_picture = len(train_embedded.owners) // len(train) - 1
    table = [f"model bundle {args.bundle} ({read_bundle(args.bundle)[0].version}); database views per picture "
             f"besides itself: {per_picture}", line]
    with tempfile.TemporaryDirectory() as scratch:
        gallery = index_of(train_embedded.vectors, labels[:len(train)], Path(scratch) / "gallery", copies)
        everything = np.concatenate([train_embedded.vectors, validation_embedded.vectors])
        validation_local = [forms[0] for forms in keypoints("validation", validation_paths, decode_image, False)]
        full = index_of(everything, labels, Path(scratch) / "full",
                        copies.added(validation_embedded.copies, validation_embedded.owners + len(train))
                        .with_local(validation_local))
        originals = [f"item/{len(train) + row}" for row in range(len(validation))]
        altered_sets = {}
        for name, (names, seed) in alteration_sets(not args.together_only).items():
            alter, called = altering(names, seed), altered_name(names, seed)
            altered_sets[name] = (Embedded(args.bundle, called, validation_paths, alter),
                                  keypoints(called, validation_paths, alter, query=True))
        query_local = keypoints("validation", validation_paths, decode_image, query=True)
        for ranking, use_prior in (("rank=similarity", False), ("rank=category", True)):
            table += [f"1. retrieval ({ranking}, copies first as /v1/similar ranks), gallery train "
                      f"(n={len(train)}), queries validation (n={len(validation)}):"]
            table += ["   " + line for line in retrieval(gallery, validation_embedded, query_local,
                                                          labels[len(train):], use_prior)]
            table.append(f"2. altered copies ({ranking}), gallery train+validation (n={len(everything)}), queries "
                         f"validation (n={len(validation)}):")
            for name, (queries, local) in altered_sets.items():
                table.append(f"   {name}:")
                table += [f"      copies {mode}: {recall_at_1(full, queries, local, originals, use_prior, mode)}"
                          for mode in COPY_MODES]
        if not args.no_scale:
            table += scale(everything, labels, validation_embedded, Path(scratch))
    print("\n".join(table))
    print(f"total wall time {time.perf_counter() - started:.1f}s, load average {os.getloadavg()[0]:.1f}")
    return 0


def percentiles(seconds: list[float]) -> str:
    ms = np.asarray(seconds) * 1000
    return f"p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms (n={len(ms)})"


def scale(real: np.ndarray, labels: list[str], embedded: Embedded, scratch: Path) -> list[str]:
    """The similarity index at SCALE_ITEMS (the copy index is not padded: its synthetic views would say little)."""
    queries, priors = embedded.vectors, embedded.priors
    vectors, labels, _ = padded(real, labels, SCALE_ITEMS)
    begun = time.perf_counter()
    approximate = index_of(vectors, labels, scratch / "scale")
    build = time.perf_counter() - begun
    exact = np.argsort(-(vectors @ queries.T), axis=0)[:10].T
    recall, latencies, ranked_latencies = [], [], []
    for vector, prior, truth in zip(queries, priors, exact, strict=True):
        tick = time.perf_counter()
        approximate.search(vector, 10)
        tock = time.perf_counter()
        approximate.search(vector, 10, prior=prior)
        latencies.append(tock - tick)
        ranked_latencies.append(time.perf_counter() - tock)
        hits = approximate.search(vector, 10, expansion=0)  # the same query as the exact search's
        recall.append(len({int(hit.item["sha1"]) for hit in hits} & set(truth.tolist())) / 10)
    return [f"3. {len(vectors)} items, {approximate.info['kind']} index (built in {build:.1f}s):",
            f"   recall@10 approximate vs exact: {interval(np.asarray(recall))}",
            f"   index query latency (k=10, one result per product, query expanded): {percentiles(latencies)}, "
            f"load average {os.getloadavg()[0]:.1f}",
            f"   the same with rank=category (category prior over {RERANK_DEPTH} rows): "
            f"{percentiles(ranked_latencies)}",
            "   (through the API, with TorchServe, HTTP and Redis: bench/similar_api.py)"]


if __name__ == "__main__":
    sys.exit(main())
