"""Evaluation of one task's predictions: accuracies with intervals, calibration error, per-class figures."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from shoplens.stats import t_interval, wilson_interval
from training.calibration import expected_calibration_error
from training.data import IGNORE


def top_k_accuracy(probs: np.ndarray, targets: np.ndarray, k: int) -> float:
    top = np.argsort(-probs, axis=1)[:, :k]
    return float((top == targets[:, None]).any(axis=1).mean())


def evaluate_task(probs: np.ndarray, targets: np.ndarray, labels: list[str], split: str) -> dict[str, Any]:
    """Every figure for one task on one split, each carrying its sample size."""
    keep = targets != IGNORE
    probs, targets = probs[keep], targets[keep]
    predicted = probs.argmax(1)
    scores = (predicted == targets).astype(np.float64)
    classes = list(range(len(labels)))
    precision, recall, f1, support = precision_recall_fscore_support(
        targets, predicted, labels=classes, zero_division=0)
    return {
        "split": split,
        "n": len(targets),
        "accuracy": t_interval(scores).as_dict(),
        "accuracy_wilson": wilson_interval(int(scores.sum()), len(scores)).as_dict(),
        "ece": expected_calibration_error(torch.from_numpy(probs).float(), torch.from_numpy(targets).long())
        if len(targets) else None,
        "top_k": {f"top{k}": top_k_accuracy(probs, targets, k) for k in (1, 3, 5) if k <= len(labels)},
        "per_class": [
            {"label": label, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        ],
        "confusion": confusion_matrix(targets, predicted, labels=classes).tolist(),
        "labels": labels,
    }


def accuracy_text(evaluation: dict[str, Any]) -> str:
    """One task's accuracy as every report line gives it: estimate, t and Wilson intervals, n."""
    t, w = evaluation["accuracy"], evaluation["accuracy_wilson"]
    return (f"accuracy {t['estimate']:.4f}, 95% t CI [{t['low']:.4f}, {t['high']:.4f}], "
            f"Wilson [{w['low']:.4f}, {w['high']:.4f}], n={evaluation['n']}")


def interval_words(figure: dict) -> str:
    """An interval's dict (``shoplens.stats.Interval.as_dict``) as the reports print it."""
    return f"{figure['estimate']:.4f} (95% t CI [{figure['low']:.4f}, {figure['high']:.4f}], n={figure['n']})"
