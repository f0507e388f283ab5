"""Frozen-stem outputs computed once and reused for every epoch and every run.

With a frozen backbone the expensive forward pass never changes, so training runs on
its cached output. Train pictures can get extra augmented views; a cache file per view
(keyed by architecture, weights, cut and preprocessing) lives on disk so repeated runs
over the same pictures only compute what is new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from network.models import ShopLensNet
from shoplens.bundle import Preprocessing
from training.data import LabelSpace, PictureDataset, Sample
from training.utils import atomic_save, to_device


def cache_key(arch: str, weights: str, cut: int, pre: Preprocessing, view: int, seed: int) -> str | None:
    """Identity of a cache file, or None when the stem is random and must not be cached."""
    if weights == "none":
        return None
    weights_id = weights
    if weights != "imagenet":
        weights_id = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
    text = json.dumps([arch, weights_id, cut, asdict(pre), view, seed if view else 0])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _sample_key(sample: Sample) -> str:
    return f"{sample.path}|{sample.phash:016x}"


@torch.no_grad()
def _compute(model: ShopLensNet, samples: list[Sample], transform: Callable, device: torch.device,
             batch_size: int, workers: int, seed: int, desc: str) -> torch.Tensor:
    dataset = PictureDataset(samples, LabelSpace({"category": ["?"]}), transform)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                        generator=torch.Generator().manual_seed(seed))
    torch.manual_seed(seed)
    model.to(device, memory_format=torch.channels_last).eval()
    outputs = []
    for pictures, _ in tqdm(loader, desc=desc, unit="batch", leave=False, disable=None):
        outputs.append(model.stem(to_device(pictures, device)).float().contiguous().cpu())
    return torch.cat(outputs)


def stem_features(model: ShopLensNet, samples: list[Sample], transform: Callable, *, device: torch.device,
                  key: str | None, cache_dir: Path | None, batch_size: int = 64, workers: int = 0,
                  seed: int = 0, desc: str = "features") -> torch.Tensor:
    """Stem outputs for `samples` in order, read from and added to the cache file `key`."""
    file = cache_dir / f"{key}.pt" if key and cache_dir else None
    cached: dict[str, torch.Tensor] = {}
    if file and file.is_file():
        try:
            cached = torch.load(file, map_location="cpu", weights_only=True)
        except Exception:  # a damaged cache is only lost time: rebuild it
            cached = {}
    missing = [s for s in samples if _sample_key(s) not in cached]
    if missing:
        fresh = _compute(model, missing, transform, device, batch_size, workers, seed, desc)
        cached.update({_sample_key(s): f.clone() for s, f in zip(missing, fresh, strict=True)})
        if file:
            file.parent.mkdir(parents=True, exist_ok=True)
            atomic_save(cached, file)
    return torch.stack([cached[_sample_key(s)] for s in samples])


class CachedViews(Dataset):
    """Cached stem outputs with targets; each epoch draws one of the views per picture."""

    def __init__(self, views: list[torch.Tensor], targets: torch.Tensor) -> None:
        self.views = views
        self.targets = targets
        self.choice = torch.zeros(len(targets), dtype=torch.long)

    def set_epoch(self, epoch: int) -> None:
        generator = torch.Generator().manual_seed(epoch)
        self.choice = torch.randint(len(self.views), (len(self.targets),), generator=generator)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.views[int(self.choice[index])][index], self.targets[index]
