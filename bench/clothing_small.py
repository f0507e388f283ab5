"""Where the benchmarks find clothing-small (the SHOPLENS_CLOTHING_SMALL setting the tests read too,
relative to the repository) and the one way they skip when it is absent."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from shoplens.imaging import IMAGE_SUFFIXES
from shoplens.settings import CLOTHING_SMALL

DEFAULT_DATA = Path(__file__).resolve().parents[1] / CLOTHING_SMALL.read()  # an absolute setting stays absolute


def absent(data: Path) -> bool:
    """True, after saying the benchmark is skipped, when `data` lacks train/ and validation/."""
    if (data / "train").is_dir() and (data / "validation").is_dir():
        return False
    print(f"skipped: clothing-small not found at {data} (expects train/ and validation/)")
    return True


def bundle_arguments(description: str, default_bundle: Path, other_bundles: dict[str, Path] | None = None,
                     ) -> argparse.Namespace | None:
    """--data and --bundle of a benchmark that runs a bundle on clothing-small (and --NAME for each bundle it
    compares with, from `other_bundles`); None (skipped) without the data."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--bundle", type=Path, default=default_bundle)
    for name, default in (other_bundles or {}).items():
        parser.add_argument(f"--{name}", type=Path, default=default, help=f"default: {default}")
    args = parser.parse_args()
    return None if absent(args.data) else args


def validation_pictures(data: Path, labels: list[str]) -> tuple[list[Path], np.ndarray]:
    """The validation split's pictures (sorted) and the index in `labels` of each one's folder."""
    paths = sorted(p for p in (data / "validation").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    return paths, np.array([labels.index(p.parent.name) for p in paths])
