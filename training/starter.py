"""The starter model: frozen EfficientNet-Lite backbones, linear heads trained on cached features.

Pictures are decoded once; each member's pooled features of the picture and its mirror
image are cached on disk (one file per split and member), so choosing heads, weight
decay, members, the temperature and thresholds takes seconds after the first pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from shoplens.imaging import decode_image
from training.ensemble import Ensemble, Member
from training.presets import eval_preset
from training.utils import atomic_save


@dataclass(frozen=True)
class Split:
    """Pictures of one folder split: ROOT/<split>/<category>/*.jpg."""

    paths: list[Path]
    targets: torch.Tensor
    labels: list[str]

    @classmethod
    def read(cls, root: Path, labels: Sequence[str] | None = None) -> Split:
        labels = list(labels or sorted(p.name for p in root.iterdir() if p.is_dir()))
        pairs = [(path, index) for index, label in enumerate(labels)
                 for path in sorted((root / label).glob("*.jpg"))]
        return cls([p for p, _ in pairs], torch.tensor([i for _, i in pairs]), labels)

    def digest(self) -> str:
        return hashlib.sha256("\n".join(map(str, self.paths)).encode()).hexdigest()[:16]


class _Pictures(Dataset):
    def __init__(self, paths: list[Path], transform: object) -> None:
        self.paths, self.transform = paths, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(decode_image(self.paths[index]))


@torch.no_grad()
def extract(ensemble: Ensemble, member: Member, paths: list[Path], cache: Path, name: str, views: int,
            batch_size: int = 32) -> torch.Tensor:
    """(pictures, views, features) of one member: the picture, then its mirror image; cached on disk."""
    file = cache / f"{name}-{member.arch}-{views}v.pt"
    if file.is_file():
        return torch.load(file, weights_only=True)
    loader = DataLoader(_Pictures(paths, eval_preset(ensemble.preprocessing)), batch_size=batch_size)
    parts = []
    for batch in tqdm(loader, desc=f"{member.arch} features {name}", unit="batch", mininterval=30):
        pictures = torch.cat([batch, batch.flip(-1)][:views])
        parts.append(member.features(pictures).unflatten(0, (views, len(batch))).transpose(0, 1))
    features = torch.cat(parts)
    atomic_save(features, file)
    return features


def split_features(ensemble: Ensemble, split: Split, cache: Path, name: str, views: int) -> dict[str, torch.Tensor]:
    """{arch: (pictures, views, features)} of every member for one split."""
    return {m.arch: extract(ensemble, m, split.paths, cache, f"{name}-{split.digest()}", views)
            for m in ensemble.members}


def member_imagenet_logits(member: Member, features: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return member.imagenet_logits(features)


def describe_cache(cache: Path) -> str:
    return json.dumps(sorted(p.name for p in cache.glob("*.pt")))
