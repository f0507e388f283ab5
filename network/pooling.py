"""Generalised-mean (GeM) pooling of a convolutional feature map: the copy descriptor.

GeM (Radenovic, Tolias and Chum, "Fine-tuning CNN image retrieval with no human annotation",
2018) pools each channel as (mean x^p)^(1/p): p = 1 is average pooling, large p tends to
max pooling. p = 3, the paper's value for off-the-shelf networks, weights a channel's
strongest responses (the distinctive parts of this very picture) over its spread, which
keeps the descriptor of a cropped, rescaled or recompressed copy close to its original's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GEM_P = 3.0
GEM_EPS = 1e-6  # keeps x^(1/p) differentiable and defined where a whole channel is zero


def gem(feature_map: torch.Tensor, p: float = GEM_P) -> torch.Tensor:
    """(N, C, H, W) feature map -> (N, C) GeM-pooled, L2-normalised descriptor."""
    pooled = feature_map.clamp(min=GEM_EPS).pow(p).mean(dim=(-2, -1)).pow(1.0 / p)
    return F.normalize(pooled, dim=1)
