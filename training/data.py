"""Finding labelled pictures (folder tree or manifest) and serving them as tensors."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from shoplens import ShopLensError
from shoplens.imaging import DEFAULT_LIMITS, ImageLimits, ImageRejected, decode_image, perceptual_hash
from shoplens.manifest import read_manifest
from shoplens.splitfile import Sample
from shoplens.vocab import slug

IGNORE = -100  # target for a task the picture has no label for (e.g. no colour folder)


@dataclass
class ScanResult:
    samples: list[Sample]
    skipped: Counter[str]


def _candidates_from_tree(root: Path) -> Iterable[tuple[Path, str, str | None]]:
    for category_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for entry in sorted(category_dir.iterdir()):
            if entry.is_file():
                yield entry, slug(category_dir.name), None
            elif entry.is_dir() and not entry.name.startswith("."):
                for file in sorted(f for f in entry.iterdir() if f.is_file()):
                    yield file, slug(category_dir.name), slug(entry.name)


def _candidates_from_manifest(manifest: Path) -> Iterable[tuple[Path, str, str | None]]:
    for row in read_manifest(manifest):
        colour = (row.get("colour") or "").strip()
        yield manifest.parent / row["path"], slug(row["category"]), slug(colour) if colour else None


def checked_sample(candidate: tuple[Path, str, str | None], limits: ImageLimits) -> Sample | str:
    """The decoded picture's Sample (with its pHash), or why it is not usable."""
    path, category, colour = candidate
    if path.name.startswith("."):
        return "hidden_file"
    try:
        image = decode_image(path, limits)
    except ImageRejected as exc:
        return exc.reason
    except OSError:
        return "unreadable"
    return Sample(path=path, category=category, colour=colour, phash=perceptual_hash(image))


def scan(source: Path, limits: ImageLimits = DEFAULT_LIMITS) -> ScanResult:
    """Every usable picture under `source` (a folder tree or a manifest CSV).

    Each file is fully decoded once, so unreadable, truncated, tiny and non-image files
    are skipped here and counted by reason instead of failing a training run later.
    """
    if not source.exists():
        raise ShopLensError(f"data source {source} does not exist")
    candidates = list(_candidates_from_manifest(source) if source.is_file() else _candidates_from_tree(source))
    # Pillow releases the GIL while decoding, so threads use every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(lambda c: checked_sample(c, limits), candidates))
    samples = [r for r in results if isinstance(r, Sample)]
    skipped = Counter(r for r in results if isinstance(r, str))
    if not samples:
        detail = ", ".join(f"{k}={v}" for k, v in sorted(skipped.items())) or "no files"
        raise ShopLensError(f"no usable pictures in {source} ({detail})")
    return ScanResult(samples, skipped)


@dataclass(frozen=True)
class LabelSpace:
    """The classes of each task, in logit order."""

    tasks: dict[str, list[str]]

    @classmethod
    def from_samples(cls, samples: list[Sample], colour: bool = True) -> LabelSpace:
        """Categories, and colours where `colour` and the samples name two or more."""
        categories = sorted({s.category for s in samples})
        if len(categories) < 2:
            raise ShopLensError(f"need at least 2 categories to train, found {categories}")
        tasks = {"category": categories}
        colours = sorted({s.colour for s in samples if s.colour})
        if colour and len(colours) >= 2:
            tasks["colour"] = colours
        return cls(tasks)

    def encode(self, sample: Sample) -> list[int]:
        values = {"category": sample.category, "colour": sample.colour}
        return [self.tasks[t].index(values[t]) if values[t] in self.tasks[t] else IGNORE for t in self.tasks]


class PictureDataset(Dataset):
    """(picture tensor, targets[task]) pairs; targets hold IGNORE where a label is absent."""

    def __init__(self, samples: list[Sample], labels: LabelSpace, transform: Callable) -> None:
        self.samples = samples
        self.targets = torch.tensor([labels.encode(s) for s in samples], dtype=torch.long)
        self.transform = transform
        self.limits = ImageLimits(min_side=1)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        path = self.samples[index].path
        try:
            image = decode_image(path, self.limits)
        except (OSError, ImageRejected) as exc:
            raise ShopLensError(f"picture {path} changed since the split was made: {exc}") from None
        return self.transform(image), self.targets[index]
