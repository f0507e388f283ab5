"""Finding training pictures whose label looks wrong, for a person to review."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from training.data import Sample
from training.report import Gallery, thumbnail


def rank_suspects(embeddings: np.ndarray, probs: np.ndarray, targets: np.ndarray,
                  neighbours: int = 10) -> list[dict[str, Any]]:
    """Every picture scored by neighbour disagreement and prediction flatness, worst first.

    disagreement: share of the `neighbours` nearest pictures (cosine, in embedding space)
    with another label; flatness: softmax entropy over its maximum, 1 for a uniform output.
    score: the larger of the two.
    """
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    k = min(neighbours, len(unit) - 1)
    nearest = np.empty((len(unit), k), dtype=np.int64)
    for start in range(0, len(unit), 2048):  # row blocks keep memory linear in n
        similarity = unit[start:start + 2048] @ unit.T
        similarity[np.arange(len(similarity)), np.arange(start, start + len(similarity))] = -np.inf
        nearest[start:start + 2048] = np.argsort(-similarity, axis=1)[:, :k]
    neighbour_labels = targets[nearest]
    disagreement = (neighbour_labels != targets[:, None]).mean(axis=1)
    majority = np.array([np.bincount(row).argmax() for row in neighbour_labels])
    entropy = -(probs * np.log(np.clip(probs, 1e-12, 1))).sum(axis=1) / np.log(probs.shape[1])
    score = np.maximum(disagreement, entropy)
    order = np.argsort(-score, kind="stable")
    return [{"index": int(i), "disagreement": float(disagreement[i]), "flatness": float(entropy[i]),
             "score": float(score[i]), "neighbour_index": int(majority[i])} for i in order]


def write_review(suspects: list[dict[str, Any]], samples: list[Sample], labels: list[str],
                 out_dir: Path, limit: int = 40, threshold: float = 0.5) -> list[dict[str, Any]]:
    """Write noise_review.csv and thumbnails for suspects scoring at least `threshold`."""
    rows = []
    for rank, suspect in enumerate(s for s in suspects[:limit] if s["score"] >= threshold):
        sample = samples[suspect["index"]]
        rows.append({"rank": rank + 1, "path": str(sample.path), "label": sample.category,
                     "neighbour_label": labels[suspect["neighbour_index"]], "score": suspect["score"],
                     "disagreement": suspect["disagreement"], "flatness": suspect["flatness"],
                     "thumbnail": thumbnail(sample.path, out_dir, f"{rank:03d}.jpg")})
    with (out_dir / "noise_review.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["rank", "path", "label", "neighbour_label", "score",
                                                    "disagreement", "flatness", "thumbnail"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def review_gallery(rows: list[dict[str, Any]]) -> Gallery:
    return Gallery("Pictures to review (possible label noise)",
                   "Training pictures whose neighbours in embedding space carry another label, or whose prediction "
                   "is nearly flat. Listed in noise_review.csv.",
                   [(r["thumbnail"], f"{r['label']} → {r['neighbour_label']}, score {r['score']:.2f}") for r in rows])
