"""Confidence intervals for accuracies.

A test set's accuracy is the mean of per-picture scores (1 right, 0 wrong), so its
95 % interval here is the t interval of that mean, clipped to [0, 1]; the Wilson score interval is given
beside it because it behaves better near 0 and 1. Across repeated runs, the interval is
the t interval of the runs' accuracies. Two models scored on the same pictures are compared
with McNemar's exact test (`mcnemar`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    n: int
    method: str

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def __str__(self) -> str:
        return f"{self.estimate:.4f} [{self.low:.4f}, {self.high:.4f}] ({self.method}, n={self.n})"

    def as_dict(self) -> dict[str, float | int | str]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high, "n": self.n, "method": self.method}


def t_interval(values: np.ndarray | list[float], confidence: float = 0.95,
               bounds: tuple[float, float] = (0.0, 1.0)) -> Interval:
    """Two-sided t interval for the mean of `values` (NaN bounds when n < 2), clipped to
    `bounds`: an accuracy's interval never reaches past 0 or 1."""
    data = np.asarray(values, dtype=np.float64)
    n = len(data)
    mean = float(data.mean()) if n else float("nan")
    if n < 2:
        return Interval(mean, float("nan"), float("nan"), n, "t")
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * data.std(ddof=1) / math.sqrt(n))
    return Interval(mean, max(bounds[0], mean - half), min(bounds[1], mean + half), n, "t")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a binomial proportion."""
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0, "wilson")
    z = float(stats.norm.ppf((1 + confidence) / 2))
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n, "wilson")


@dataclass(frozen=True)
class Paired:
    """McNemar's exact test of two models on the same pictures: `b` pictures only the first got
    right, `c` only the second; `p` the two-sided binomial p-value of c among b + c at 1/2."""

    b: int
    c: int
    p: float


def mcnemar(first_right: list[bool], second_right: list[bool]) -> Paired:
    """Only the discordant pictures carry evidence of a difference; the exact binomial test is right
    for the small counts a held-out split gives (no continuity correction needed)."""
    if len(first_right) != len(second_right):
        raise ValueError("both models must be scored on the same pictures")
    b = sum(1 for one, two in zip(first_right, second_right, strict=True) if one and not two)
    c = sum(1 for one, two in zip(first_right, second_right, strict=True) if two and not one)
    p = float(stats.binomtest(c, b + c, 0.5).pvalue) if b + c else 1.0
    return Paired(b, c, p)
