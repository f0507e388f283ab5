"""Stratified train/validation/test splits that keep near-duplicates together.

Pictures whose perceptual hashes differ in at most ``max_distance`` bits form one group
(transitively), and a group goes to one split whole, so a re-encoded or resized copy of
a training picture can never turn up in validation or test. The split is written to a
JSON file and read back, so a run can be reproduced exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from shoplens import ShopLensError
from shoplens.imaging import pairwise_within
from shoplens.manifest import digest
from shoplens.settings import MAX_DISTANCE
from shoplens.splitfile import SPLITS, Sample, read_split_file, split_document
from training.data import LabelSpace, scan
from training.utils import atomic_write_text

MIN_STRATUM = 5  # pictures a label needs to be split on its own: at 60/20/20, one or more for each part


@dataclass
class Split:
    samples: list[Sample]
    scheme: str
    seed: int
    max_distance: int
    source: str
    skipped: dict[str, int] = field(default_factory=dict)
    leaks: int = 0  # near-duplicate pairs across splits (only possible with scheme "folders")

    def part(self, name: str) -> list[Sample]:
        return [s for s in self.samples if s.split == name]

    def only(self, categories: list[str]) -> Split:
        """The same split restricted to `categories`."""
        unknown = sorted(set(categories) - {s.category for s in self.samples})
        if unknown:
            raise ShopLensError(f"categories not in the data: {', '.join(unknown)}")
        kept = [s for s in self.samples if s.category in categories]
        return dataclasses.replace(self, samples=kept)

    def counts(self) -> dict[str, int]:
        return {name: len(self.part(name)) for name in SPLITS}

    def digest(self) -> str:
        """The identity of the labelled data (``shoplens.manifest.digest``): each picture's path relative to
        the source, its labels and its part, so the same data gives the same digest on any machine."""
        rows = split_document(self.samples, self.source, {})["samples"]
        return digest((row["path"], row["category"], row["colour"] or "", row["split"]) for row in rows)


def parse_scheme(scheme: str) -> tuple[float, float, float]:
    """'60/20/20' or '50/50' (train/validation[/test]) as fractions summing to 1."""
    try:
        parts = [float(p) for p in scheme.split("/")]
    except ValueError:
        parts = []
    if len(parts) not in (2, 3) or any(p < 0 for p in parts) or sum(parts) <= 0 or parts[0] == 0 or parts[1] == 0:
        raise ShopLensError(f"split scheme {scheme!r} must look like 60/20/20 or 50/50 (or be 'folders')")
    parts += [0.0] * (3 - len(parts))
    total = sum(parts)
    return parts[0] / total, parts[1] / total, parts[2] / total


def near_duplicate_groups(samples: list[Sample], max_distance: int) -> list[list[int]]:
    parent = list(range(len(samples)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairwise_within([s.phash for s in samples], max_distance):
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(samples)):
        groups[root(i)].append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def _targets(n: int, ratios: tuple[float, ...]) -> list[int]:
    """Largest-remainder counts, giving each split with a non-zero ratio one item if n allows."""
    raw = [n * r for r in ratios]
    counts = [int(x) for x in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - counts[i], reverse=True)[: n - sum(counts)]:
        counts[i] += 1
    for i, ratio in enumerate(ratios):
        if ratio > 0 and counts[i] == 0 and max(counts) > 1:
            counts[counts.index(max(counts))] -= 1
            counts[i] = 1
    return counts


def assign(samples: list[Sample], ratios: tuple[float, float, float], seed: int,
           max_distance: int) -> list[Sample]:
    """Samples with ``split`` set: groups dealt per label to the split furthest below target. A
    label (category, colour) with fewer than MIN_STRATUM pictures is dealt with the rest of its
    category: one picture a label would all go to training, and leave nothing to test on."""
    rng = random.Random(seed)
    sizes = Counter(s.label for s in samples)
    stratum = [s.label if sizes[s.label] >= MIN_STRATUM else (s.category, "") for s in samples]
    by_label: dict[tuple[str, str], list[list[int]]] = defaultdict(list)
    for group in near_duplicate_groups(samples, max_distance):
        majority = Counter(stratum[i] for i in group).most_common(1)[0][0]
        by_label[majority].append(group)
    names = [None] * len(samples)
    for label in sorted(by_label):
        groups = by_label[label]
        rng.shuffle(groups)
        groups.sort(key=len, reverse=True)  # big groups first, small ones even out the counts
        targets = _targets(sum(len(g) for g in groups), ratios)
        filled = [0, 0, 0]
        for group in groups:
            k = max(range(3), key=lambda i: (targets[i] - filled[i], -i))
            filled[k] += len(group)
            for i in group:
                names[i] = SPLITS[k]
    return [Sample(s.path, s.category, s.colour, s.phash, name) for s, name in zip(samples, names, strict=True)]


def count_leaks(samples: list[Sample], max_distance: int) -> int:
    return sum(1 for i, j in pairwise_within([s.phash for s in samples], max_distance)
               if samples[i].split != samples[j].split)


def make_split(source: Path, scheme: str = "60/20/20", seed: int = 0,
               max_distance: int = MAX_DISTANCE.default) -> Split:
    """Scan `source` and split it; scheme 'folders' takes source/<train|validation|test>/ as given."""
    if scheme == "folders":
        samples, skipped = [], Counter()
        for name in SPLITS:
            if (source / name).is_dir():
                found = scan(source / name)
                samples += [Sample(s.path, s.category, s.colour, s.phash, name) for s in found.samples]
                skipped += found.skipped
        if not any(s.split == "train" for s in samples) or not any(s.split == "validation" for s in samples):
            raise ShopLensError(f"scheme 'folders' needs {source}/train and {source}/validation with pictures")
        leaks = count_leaks(samples, max_distance)
    else:
        ratios = parse_scheme(scheme)
        found = scan(source)
        samples, skipped, leaks = assign(found.samples, ratios, seed, max_distance), found.skipped, 0
    split = Split(samples, scheme, seed, max_distance, str(source), dict(skipped), leaks)
    if not split.part("validation"):
        raise ShopLensError(f"too few pictures in {source} for a validation split: {split.counts()}")
    return split


@dataclass(frozen=True)
class LabelledPart:
    """One part of a split with its category targets, in label order then file name (the starter's train and
    validation pictures)."""

    samples: list[Sample]
    targets: torch.Tensor
    labels: list[str]

    @classmethod
    def of(cls, split: Split, part: str, labels: Sequence[str]) -> LabelledPart:
        unknown = sorted({s.category for s in split.part(part)} - set(labels))
        if unknown:
            raise ShopLensError(f"{part} pictures of categories train has none of: {', '.join(unknown)}")
        kept = sorted(split.part(part), key=lambda s: labels.index(s.category))
        return cls(kept, torch.tensor([labels.index(s.category) for s in kept]), list(labels))

    @property
    def paths(self) -> list[Path]:
        return [s.path for s in self.samples]

    def digest(self) -> str:
        return hashlib.sha256("\n".join(map(str, self.paths)).encode()).hexdigest()[:16]


def read_folder_split(data: Path) -> tuple[Split, list[str]]:
    """The folder split of `data` (ROOT/{train,validation}/<category>/, as ``--scheme folders`` reads it) and
    its train part's categories, in logit order."""
    split = make_split(data, "folders")
    return split, LabelSpace.from_samples(split.part("train"), colour=False).tasks["category"]


def save_split(split: Split, path: Path) -> None:
    meta = {"scheme": split.scheme, "seed": split.seed, "max_distance": split.max_distance,
            "skipped": split.skipped, "leaks": split.leaks}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(split_document(split.samples, split.source, meta), indent=1) + "\n")


def load_split(path: Path) -> Split:
    document, samples = read_split_file(path)
    try:
        return Split(samples, document["scheme"], document["seed"], document["max_distance"],
                     document["source"], document.get("skipped", {}), document.get("leaks", 0))
    except KeyError as exc:
        raise ShopLensError(f"split file {path} is unreadable or corrupt: no {exc}") from None
