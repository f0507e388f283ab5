"""Benchmark prototype: spatial verification of local features for finding altered copies, on clothing-small.

Each validation picture is altered with all five alterations (``serving.index.alterations``; the crop at the
centre, then at a seeded random position) and looked for among all train+validation pictures, in two stages:

1. A global ranking: the cosine of the starter model's embeddings where bench/visual_search.py has cached
   them (the gallery's and the altered copies'; read only, never computed here), else, needing no model
   pass, the cosine of a 16x16 colour thumbnail (mean removed) of the query and of its mirror image, the
   better of the two. Printed: candidate recall@K (the original among the top K), for every K of --recall.
2. Spatial verification of the top K: ORB keypoints (scikit-image) of grayscale pictures at VERIFY_SIDE px on
   the longer side (cached per picture), matched (Hamming, cross-checked, ratio test), and RANSAC-fitted to a
   similarity transform; candidates re-ranked by their number of inliers (the query and its mirror image,
   the better of the two; ties keep the first stage's order), for every K of --depth. Printed: recall@1
   after verification.

This is a measurement only: the API does not verify (the index would have to store each picture's keypoints).
Every recall carries n and a Wilson 95 % interval; ms per query beside the load average. Skips when the dataset
is absent. With --queries N a seeded sample of the validation pictures is used (n says how many).

    nice -n 15 .venv/bin/python bench/copy_verification.py [--data DIR] [--queries N] [--depth 10 20]
        [--recall 1 10 20 50] [--thumbnails]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

import numpy as np
from clothing_small import DEFAULT_DATA, absent
from PIL import Image
from skimage.feature import ORB, match_descriptors
from skimage.measure import ransac
from skimage.transform import SimilarityTransform
from visual_search import SEED, altered_name, altering, cache_file, pictures

from serving.cli import STARTER_BUNDLE
from serving.index.alterations import ALTERATIONS, flip
from shoplens.imaging import decode_image
from shoplens.stats import wilson_interval

THUMBNAIL = 16
VERIFY_SIDE = 288
KEYPOINTS = 400
MIN_MATCHES = 4  # below this RANSAC has nothing to vote on: the candidate counts 0 inliers
RESIDUAL_PX = 3.0


def thumbnail(image: Image.Image) -> np.ndarray:
    """A unit vector of the picture's colour thumbnail, mean removed (so brightness shifts cancel)."""
    pixels = np.asarray(image.convert("RGB").resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BOX), dtype=np.float32)
    vector = (pixels - pixels.mean()).ravel()
    return vector / max(float(np.linalg.norm(vector)), 1e-6)


def cached_embeddings(train: int, validation: int, seed: int | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The starter model's embeddings of the gallery (train then validation) and of the validation pictures
    altered with all five alterations, as bench/visual_search.py cached them; None where one is not cached."""
    wanted = [("train", train), ("validation", validation), (altered_name(tuple(ALTERATIONS), seed), validation)]
    files = [next((path for views in (False, True) if (path := cache_file(STARTER_BUNDLE, name, count, views))
                   .is_file()), None) for name, count in wanted]
    if None in files:
        return None
    train_vectors, validation_vectors, queries = (np.load(path)["vectors"] for path in files)
    return np.concatenate([train_vectors, validation_vectors]), queries


def keypoints(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """ORB keypoints (row, col) and binary descriptors of the grayscale picture at VERIFY_SIDE px; none where
    the picture is too plain to have any."""
    gray = image.convert("L")
    scale = VERIFY_SIDE / max(gray.size)
    gray = gray.resize((max(1, round(gray.width * scale)), max(1, round(gray.height * scale))),
                       Image.Resampling.BILINEAR)
    orb = ORB(n_keypoints=KEYPOINTS, fast_threshold=0.05)
    try:
        orb.detect_and_extract(np.asarray(gray, dtype=np.float32) / 255)
    except RuntimeError:  # skimage raises when no keypoint survives
        return np.empty((0, 2)), np.empty((0, 256), dtype=bool)
    return orb.keypoints, orb.descriptors


def inliers(query: tuple[np.ndarray, np.ndarray], candidate: tuple[np.ndarray, np.ndarray]) -> int:
    """How many matches between the two pictures one similarity transform explains (RANSAC, seeded)."""
    if len(query[1]) < MIN_MATCHES or len(candidate[1]) < MIN_MATCHES:
        return 0
    matches = match_descriptors(query[1], candidate[1], cross_check=True, max_ratio=0.85)
    if len(matches) < MIN_MATCHES:
        return 0
    source, target = query[0][matches[:, 0]][:, ::-1], candidate[0][matches[:, 1]][:, ::-1]
    _, kept = ransac((source, target), SimilarityTransform, min_samples=2, residual_threshold=RESIDUAL_PX,
                     max_trials=100, rng=0)
    return 0 if kept is None else int(kept.sum())


def first_stage(gallery: list[Path], train: int, rows: list[int], load: Callable[[Path], Image.Image],
                seed: int | None, thumbnails_only: bool) -> tuple[str, np.ndarray]:
    """Stage 1's scores (queries x gallery) for these validation rows of the gallery, and what they are."""
    embedded = None if thumbnails_only else cached_embeddings(train, len(gallery) - train, seed)
    if embedded is not None:
        vectors, queries = embedded
        return "starter model embedding cosine (cached)", queries[np.asarray(rows) - train] @ vectors.T
    thumbnails = thumbnail_matrix(tuple(gallery))
    queries = [load(gallery[row]) for row in rows]
    return (f"{THUMBNAIL}x{THUMBNAIL} colour thumbnail cosine, mirror included",
            np.stack([np.maximum(thumbnails @ thumbnail(query), thumbnails @ thumbnail(flip(query)))
                      for query in queries]))


@cache
def thumbnail_matrix(gallery: tuple[Path, ...]) -> np.ndarray:
    return np.stack([thumbnail(decode_image(path)) for path in gallery])


def ratio(found: int, n: int) -> str:
    return f"{found}/{n} = {wilson_interval(found, n)} 95%"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--queries", type=int, default=0, help="a seeded sample of this many validation pictures "
                                                               "(default: all)")
    parser.add_argument("--depth", type=int, nargs="+", default=[10, 20], help="candidates verified (K)")
    parser.add_argument("--recall", type=int, nargs="+", default=[1, 10, 20, 50],
                        help="K of stage 1's candidate recall")
    parser.add_argument("--thumbnails", action="store_true", help="stage 1 by thumbnails even where embeddings "
                                                                  "are cached")
    args = parser.parse_args()
    if absent(args.data):
        return 0
    started = time.perf_counter()
    train, validation = pictures(args.data / "train"), pictures(args.data / "validation")
    gallery = [path for path, _ in train + validation]
    rows = list(range(len(train), len(gallery)))
    if args.queries:
        rows = sorted(random.Random(SEED).sample(rows, min(args.queries, len(rows))))
    gallery_keypoints = cache(lambda row: keypoints(decode_image(gallery[row])))
    depth, n = max(args.depth), len(rows)
    print(f"gallery train+validation (n={len(gallery)}), queries validation (n={n}"
          f"{', seeded sample' if args.queries else ''}); stage 2: ORB ({KEYPOINTS} keypoints at {VERIFY_SIDE} px) "
          "+ RANSAC similarity inliers, mirror included", flush=True)
    for name, seed in (("all five, centre crop", None), ("all five, crop at a random position", SEED)):
        load = altering(tuple(ALTERATIONS), seed)
        stage, scores = first_stage(gallery, len(train), rows, load, seed, args.thumbnails)
        ranked = np.argsort(-scores, axis=1, kind="stable")
        candidates_found = {k: int((ranked[:, :k] == np.asarray(rows)[:, None]).any(axis=1).sum())
                            for k in args.recall}
        verified_found = dict.fromkeys(args.depth, 0)
        tick = time.perf_counter()
        for row, candidates in zip(rows, ranked[:, :depth], strict=True):
            query = load(gallery[row])
            views = [keypoints(query), keypoints(flip(query))]
            counts = [max(inliers(view, gallery_keypoints(int(candidate))) for view in views)
                      for candidate in candidates]
            for k in args.depth:
                verified_found[k] += candidates[int(np.argmax(counts[:k]))] == row
        per_query = (time.perf_counter() - tick) * 1000 / n
        lines = [f"{name}: stage 1 {stage}:",
                 *(f"   candidate recall@{k} {ratio(found, n)}" for k, found in candidates_found.items()),
                 *(f"   recall@1 after verifying the top {k}: {ratio(found, n)}"
                   for k, found in verified_found.items()),
                 f"   {per_query:.0f} ms per query for stage 2 (K={depth}; gallery keypoints extracted when first "
                 f"needed, cached), load average {os.getloadavg()[0]:.1f}"]
        print("\n".join(lines), flush=True)
    print(f"total wall time {time.perf_counter() - started:.1f}s, load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
