"""The model bundle: what training exports and serving packages for TorchServe.

This docstring is the format's one description.

A bundle is a directory holding two files:

``bundle.json``
    format_version  int, currently 1
    arch            model architecture name (``training.models.ARCHITECTURES``)
    trainable       which layers were trained: "head", "last" or "all"; with arch it
                    fixes the module layout the weights belong to
    dropout         dropout rate before each head's linear layer
    tasks           {"category": [labels...], "colour": [labels...]} in logit order;
                    "colour" is absent when the training data had no colours
    preprocessing   {"resize": int, "image_size": int, "mean": [3 floats],
                     "std": [3 floats], "interpolation": "bilinear" | "bicubic"}:
                    resize the shorter side, centre-crop, scale to [0, 1], normalise
    metrics         the evaluation summary of the run (accuracy, interval, n, split)
    data_digest     SHA-256 of the labelled data the model saw (``manifest.digest``)
    weights_sha256  SHA-256 of ``weights.pt``, checked on load
    version         the model version serving reports, "YYYYMMDDHHMMSS" by default
    created         ISO-8601 UTC time of export

``weights.pt``
    a ``torch.save`` state dict of the whole network (``training.models.ShopLensNet``).

A bundle is written into a temporary sibling directory and renamed into place, so a
reader never sees half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shoplens import ShopLensError

FORMAT_VERSION = 1
MANIFEST_NAME = "bundle.json"
WEIGHTS_NAME = "weights.pt"


@dataclass
class Preprocessing:
    resize: int = 256
    image_size: int = 224
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    interpolation: str = "bilinear"


@dataclass
class BundleInfo:
    arch: str
    trainable: str
    dropout: float
    tasks: dict[str, list[str]]
    preprocessing: Preprocessing
    metrics: dict[str, Any] = field(default_factory=dict)
    data_digest: str = ""
    version: str = ""
    created: str = ""
    weights_sha256: str = ""
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def write_bundle(directory: Path, info: BundleInfo, weights_file: Path) -> Path:
    """Atomically create `directory` from `info` and a saved state-dict file."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        shutil.copyfile(weights_file, staging / WEIGHTS_NAME)
        info.weights_sha256 = _sha256(staging / WEIGHTS_NAME)
        (staging / MANIFEST_NAME).write_text(info.to_json() + "\n", encoding="utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def read_bundle(directory: Path) -> tuple[BundleInfo, Path]:
    """The bundle's description and the path of its verified weights file."""
    manifest, weights = directory / MANIFEST_NAME, directory / WEIGHTS_NAME
    try:
        raw = json.loads(manifest.read_text(encoding="utf-8"))
        raw["preprocessing"] = Preprocessing(**raw["preprocessing"])
        info = BundleInfo(**raw)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ShopLensError(f"{directory} is not a readable model bundle: {exc}") from None
    if info.format_version != FORMAT_VERSION:
        raise ShopLensError(f"bundle format {info.format_version} is not {FORMAT_VERSION}")
    if not weights.is_file() or _sha256(weights) != info.weights_sha256:
        raise ShopLensError(f"bundle weights {weights} are missing or do not match bundle.json")
    return info, weights
