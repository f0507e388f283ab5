"""Writing a trained model's bundle (format: ``shoplens.bundle``): the one place a training run stamps a
bundle with its version, creation time and the digest of the split it learnt from."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch

from shoplens.bundle import BundleInfo, write_bundle
from training.splits import Split

VERSION_FORMAT = "%Y%m%d%H%M%S"  # the version serving reports: the UTC time of writing, to the second


def write_trained_bundle(out: Path, info: BundleInfo, split: Split, weights: dict[str, torch.Tensor],
                         exports: Callable[[Path], dict[str, Path]] | None = None) -> Path:
    """The bundle `out`, written atomically: `info` stamped now and with `split`'s digest, the `weights`
    state dict, and the exported models `exports` writes into a scratch folder it is given (none: serving
    exports the bundle where it is archived)."""
    now = datetime.now(UTC)
    info.version, info.created = now.strftime(VERSION_FORMAT), now.isoformat(timespec="seconds")
    info.data_digest = split.digest()
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
        weights_file = Path(scratch) / "weights.pt"
        torch.save(weights, weights_file)
        return write_bundle(out, info, weights_file, exports(Path(scratch)) if exports else {})
