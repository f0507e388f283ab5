"""Calibration of a classifier's probabilities on a held-out split: the temperature (Guo et al., 2017), the
expected calibration error, and the category sets an answer lists beside its top-1 (the threshold at which a
second category joins). The starter recipe calibrates with it; ``training.metrics`` reports the error for
every trained model."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

ECE_BINS = 15  # equal-width confidence bins of the expected calibration error


def fit_temperature(log_probs: torch.Tensor, targets: torch.Tensor) -> float:
    """The temperature minimising validation negative log-likelihood (Guo et al., 2017)."""
    log_t = torch.zeros(1, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(log_probs / log_t.exp(), targets)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp())


def expected_calibration_error(probs: torch.Tensor, targets: torch.Tensor, bins: int = ECE_BINS) -> float:
    """ECE of the top-1 confidence over equal-width bins."""
    confidence, predicted = probs.max(1)
    correct = (predicted == targets).float()
    edges = torch.linspace(0, 1, bins + 1)
    error = torch.zeros(())
    for low, high in itertools.pairwise(edges):
        inside = (confidence > low) & (confidence <= high)
        if inside.any():
            error += inside.float().mean() * (confidence[inside].mean() - correct[inside].mean()).abs()
    return float(error)


def set_threshold(probs: torch.Tensor, targets: torch.Tensor, coverage: float) -> float:
    """The highest probability threshold whose category sets (top-1 always in) reach `coverage`."""
    true_probs = probs.gather(1, targets[:, None])[:, 0]
    top1 = probs.argmax(1) == targets
    needed = torch.sort(true_probs[~top1], descending=True).values  # misses a threshold can rescue
    allowed_misses = int((1 - coverage) * len(targets))
    rescue = max(0, int((~top1).sum()) - allowed_misses)
    return float(needed[rescue - 1]) if rescue else 1.0


def category_sets(probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """Boolean (pictures, classes): the top-1 category and every one at or above the threshold."""
    chosen = probs >= threshold
    chosen[torch.arange(len(probs)), probs.argmax(1)] = True
    return chosen
