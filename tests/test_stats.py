import math

import numpy as np
import pytest
from scipy import stats

from shoplens.stats import t_interval, wilson_interval
from training.metrics import evaluate_task, top_k_accuracy


@pytest.mark.parametrize("correct, n", [(93, 100), (341, 341), (0, 20), (289, 341), (1, 2)])
def test_t_interval_matches_scipy(correct, n):
    scores = np.array([1.0] * correct + [0.0] * (n - correct))
    ours = t_interval(scores)
    sem = stats.sem(scores)
    if sem == 0:
        assert (ours.low, ours.high) == (ours.estimate, ours.estimate)
        return
    low, high = stats.t.interval(0.95, n - 1, loc=scores.mean(), scale=sem)
    assert ours.low == pytest.approx(max(0.0, low), abs=1e-12)  # an accuracy's interval is clipped to [0, 1]
    assert ours.high == pytest.approx(min(1.0, high), abs=1e-12)
    assert ours.n == n


@pytest.mark.parametrize("correct, n", [(93, 100), (341, 341), (0, 20), (7, 9)])
def test_wilson_matches_scipy(correct, n):
    ci = stats.binomtest(correct, n).proportion_ci(0.95, method="wilson")
    ours = wilson_interval(correct, n)
    assert ours.low == pytest.approx(ci.low, abs=1e-12)
    assert ours.high == pytest.approx(ci.high, abs=1e-12)


def test_intervals_on_degenerate_input():
    assert math.isnan(t_interval([0.9]).low)
    assert math.isnan(wilson_interval(0, 0).estimate)


def test_known_t_value():
    # mean 0.9, sd of [1,1,1,1,0.6]... checked by hand: t(0.975, 4) = 2.776445
    ours = t_interval([1.0, 1.0, 1.0, 1.0, 0.5], bounds=(-math.inf, math.inf))
    assert ours.half_width == pytest.approx(2.776445 * np.std([1, 1, 1, 1, 0.5], ddof=1) / math.sqrt(5), rel=1e-6)


def test_evaluate_task_figures():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    targets = np.array([0, 1, 1, -100])
    result = evaluate_task(probs, targets, ["a", "b", "c"], "test")
    assert result["n"] == 3
    assert result["accuracy"]["estimate"] == pytest.approx(2 / 3)
    assert result["top_k"] == {"top1": pytest.approx(2 / 3), "top3": 1.0}
    assert result["confusion"] == [[1, 0, 0], [1, 1, 0], [0, 0, 0]]
    per_class = {row["label"]: row for row in result["per_class"]}
    assert per_class["a"]["precision"] == 0.5 and per_class["b"]["recall"] == 0.5
    assert top_k_accuracy(probs[:3], targets[:3], 2) == 1.0


def test_t_interval_of_an_accuracy_stays_within_0_and_1():
    near_perfect = t_interval([1.0] * 20 + [0.0])
    assert near_perfect.high == 1.0 and near_perfect.low < near_perfect.estimate
    assert t_interval([0.0] * 20 + [1.0]).low == 0.0
