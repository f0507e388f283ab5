"""Local features that verify a copy: ORB keypoints, matched and fitted to one similarity transform.

A global copy descriptor (``store.CopyViews``) ranks the catalogue well enough to hold a query's original
among its first few dozen candidates, but not always first: a shop's product shots share white
backgrounds, poses and lighting, and once a fifth of a picture is cut away and it is mirrored, a
different shirt on the same mannequin can come out closer. Spatial verification (Philbin et al. 2007;
the standard second stage of copy detection) tells them apart: the original's keypoints and the copy's
are related by one rotation + scale + shift, so many matches agree on it; a different garment's matches
do not. ``inliers`` counts the matches that agree (RANSAC, OpenCV's ``estimateAffinePartial2D``).

ORB (OpenCV) is binary and fast: about 10 ms per picture to find, about a millisecond to match a pair
on two cores. A mirrored copy's keypoints are not the mirror of the original's descriptors, so a
query is verified as itself and as its mirror image (``query_features``), the better count kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

VERIFY_SIDE = 288  # px on the longer side where keypoints are found: a copy's scale differences shrink to the crop
KEYPOINTS = 400  # per picture: about 14 KB stored per catalogue picture
# A query's own keypoints: matching costs their count times the candidate's, and a copy's strongest corners
# are its original's too (recall and time: bench/visual_search.py, docs/benchmarks.md)
QUERY_KEYPOINTS = 200
FAST_THRESHOLD = 10  # OpenCV's default 20 finds too few corners on plain product shots
MIN_MATCHES = 6  # fewer cross-checked matches than this leave RANSAC nothing to vote on: 0 inliers
RESIDUAL_PX = 4.0  # how far (px at VERIFY_SIDE) a match may sit from the fitted transform and still agree
RANSAC_ITERATIONS = 500
MIN_QUERY_SIDE = 144  # px on the longer side: a smaller query, blown up to VERIFY_SIDE, has corners of blur only
RANSAC_SEED = 0  # OpenCV's RANSAC draws from a global generator: seeded so a query always verifies the same


@dataclass(frozen=True)
class LocalFeatures:
    """One picture's keypoints: positions (n, 2) float32 px at VERIFY_SIDE, ORB descriptors (n, 32) uint8."""

    points: np.ndarray
    descriptors: np.ndarray

    def __len__(self) -> int:
        return len(self.points)

    @classmethod
    def none(cls) -> LocalFeatures:
        """No keypoints (a blank picture, or one that could not be read): never verified."""
        return cls(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))


def local_features(image: Image.Image, count: int = KEYPOINTS) -> LocalFeatures:
    """The strongest `count` ORB corners of the picture, found at VERIFY_SIDE."""
    gray = image.convert("L")
    scale = VERIFY_SIDE / max(gray.size)
    gray = gray.resize((max(1, round(gray.width * scale)), max(1, round(gray.height * scale))),
                       Image.Resampling.BILINEAR)
    orb = cv2.ORB_create(nfeatures=count, fastThreshold=FAST_THRESHOLD)
    keypoints, descriptors = orb.detectAndCompute(np.asarray(gray), None)
    if descriptors is None:  # a blank picture has no corners
        return LocalFeatures.none()
    return LocalFeatures(np.asarray([point.pt for point in keypoints], np.float32), descriptors)


def query_features(image: Image.Image) -> tuple[LocalFeatures, LocalFeatures] | None:
    """The query picture's keypoints and its mirror image's (a copy may be mirrored); None for a picture too
    small to verify (its copies are then found by the copy threshold alone)."""
    if max(image.size) < MIN_QUERY_SIDE:
        return None
    return (local_features(image, QUERY_KEYPOINTS),
            local_features(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT), QUERY_KEYPOINTS))


def inliers(query: LocalFeatures, candidate: LocalFeatures) -> int:
    """How many cross-checked descriptor matches agree on one similarity transform between the pictures."""
    if len(query) < MIN_MATCHES or len(candidate) < MIN_MATCHES:
        return 0
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(query.descriptors, candidate.descriptors)
    if len(matches) < MIN_MATCHES:
        return 0
    source = query.points[[match.queryIdx for match in matches]]
    target = candidate.points[[match.trainIdx for match in matches]]
    cv2.setRNGSeed(RANSAC_SEED)
    transform, agree = cv2.estimateAffinePartial2D(source, target, method=cv2.RANSAC,
                                                   ransacReprojThreshold=RESIDUAL_PX, maxIters=RANSAC_ITERATIONS,
                                                   refineIters=0)
    return 0 if transform is None else int(agree.sum())


def best_inliers(query: tuple[LocalFeatures, ...], candidate: LocalFeatures, enough: int | None = None) -> int:
    """The best count over the query's forms (itself, its mirror image); the first form's that reaches `enough`
    without trying the others."""
    best = 0
    for form in query:
        best = max(best, inliers(form, candidate))
        if enough is not None and best >= enough:
            break
    return best


@dataclass(frozen=True)
class LocalStore:
    """Every catalogue picture's keypoints in three flat arrays (row i's are rows offsets[i]:offsets[i+1]);
    memory-mapped where read from an index version."""

    points: np.ndarray  # (total, 2) float16
    descriptors: np.ndarray  # (total, 32) uint8
    offsets: np.ndarray  # (count + 1,) int64

    @classmethod
    def of(cls, features: list[LocalFeatures]) -> LocalStore:
        counts = [len(one) for one in features]
        return cls(np.concatenate([np.zeros((0, 2), np.float16), *(one.points.astype(np.float16) for one in features)]),
                   np.concatenate([np.zeros((0, 32), np.uint8), *(one.descriptors for one in features)]),
                   np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int64))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, row: int) -> LocalFeatures:
        start, end = int(self.offsets[row]), int(self.offsets[row + 1])
        return LocalFeatures(np.asarray(self.points[start:end], np.float32), np.asarray(self.descriptors[start:end]))

    def added(self, other: LocalStore) -> LocalStore:
        return LocalStore(np.concatenate([self.points, other.points]),
                          np.concatenate([self.descriptors, other.descriptors]),
                          np.concatenate([self.offsets, other.offsets[1:] + self.offsets[-1]]))

    def kept(self, rows: np.ndarray) -> LocalStore:
        return LocalStore.of([self[int(row)] for row in rows])
