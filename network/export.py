"""Exporting a trained network as self-contained TorchScript and ONNX models (format: shoplens.bundle).

A bundle that keeps its trained weights alone (the starter: 4 MB of tuned tails beside a 26 MB ONNX
model) is exported where it is served: `exported_bundle` writes, once per bundle and runtime, a copy
with the export, which a TorchServe worker or a Spark task then runs with ONNX Runtime or torch alone.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from network.models import load_bundle_model
from shoplens import ShopLensError
from shoplens.bundle import EXPORT_FILES, EXPORTED_RUNTIMES, MANIFEST_NAME, Preprocessing, read_bundle, write_bundle
from shoplens.exported import DESCRIPTORS, PLAIN_OUTPUTS, Predict, load_predictor, onnx_predictor, torchscript_predictor

TOLERANCE = 1e-4  # largest difference (probability, score, descriptor component) of an export to the eager network
MODEL_CARD = "MODEL_CARD.md"  # a bundle's description for people, copied with it


class LogProbabilities(nn.Module):
    """The network's outputs as every runtime serves them: log-softmax on each label head (log-probabilities
    keep the temperature's effect: softmax(log p / T) equals softmax(logits / T), which
    ``shoplens.classifier`` computes), scores such as "garment" as they are, and the descriptors (pooled
    features, copy descriptor) L2-normalised (visual search). They are 2-D too: told apart by name, never by
    shape."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        outputs = self.net.outputs(pixels)
        return {name: F.normalize(out, dim=1) if name in DESCRIPTORS
                else out if name in PLAIN_OUTPUTS else out.log_softmax(1) for name, out in outputs.items()}


def eager_outputs(net: nn.Module, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """What the exports return, from the eager network: log-probabilities per label head, scores, descriptors."""
    with torch.inference_mode():
        return {task: out.numpy() for task, out in LogProbabilities(net).eval()(torch.from_numpy(pixels)).items()}


def probabilities(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Exported outputs with each label head's log-probabilities turned into probabilities (temperature 1)."""
    return {name: out if name in (*DESCRIPTORS, *PLAIN_OUTPUTS) else np.exp(out) for name, out in outputs.items()}


def eager_probabilities(net: nn.Module, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """The eager network's probabilities per label head (temperature 1), its scores and descriptors."""
    return probabilities(eager_outputs(net, pixels))


def export_models(net: nn.Module, pre: Preprocessing, folder: Path,
                  runtimes: tuple[str, ...] = tuple(EXPORT_FILES)) -> dict[str, Path]:
    """Write `net`'s models for `runtimes` into `folder`, checked against it; {runtime: path}."""
    model = LogProbabilities(net).eval()
    views = (2,) if len(pre.views) == 2 else ()  # the centre crop, then the whole picture (shoplens.preprocessing)
    example = torch.randn(2, *views, 3, pre.image_size, pre.image_size, generator=torch.Generator().manual_seed(0))
    paths = {runtime: folder / EXPORT_FILES[runtime] for runtime in runtimes}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and exporter notes about constant shapes: the batch stays dynamic
        names = list(model(example))  # one eager pass first: constants it caches are traced as constants
        if "torchscript" in paths:
            torch.jit.freeze(torch.jit.trace(model, example, strict=False)).save(str(paths["torchscript"]))
        if "onnx" in paths:
            torch.onnx.export(model, (example,), str(paths["onnx"]), input_names=["pixels"], output_names=names,
                              dynamic_axes={name: {0: "batch"} for name in ["pixels", *names]}, dynamo=False)
    check_exports(net, paths, example.numpy()[:1].repeat(3, axis=0))
    return paths


def check_exports(net: nn.Module, paths: dict[str, Path], pixels: np.ndarray) -> float:
    """The largest difference (probability, score, descriptor) of the exports to `net`; raises above TOLERANCE."""
    expected = eager_probabilities(net, pixels)
    loaders = {"torchscript": torchscript_predictor, "onnx": onnx_predictor}
    worst = 0.0
    for runtime, path in paths.items():
        got = probabilities(loaders[runtime](path)(pixels))
        difference = max(float(np.abs(got[task] - expected[task]).max()) for task in expected)
        if difference >= TOLERANCE:
            raise ShopLensError(f"the {runtime} export differs from the network by {difference:.2e}")
        worst = max(worst, difference)
    return worst


def eager_predictor(directory: Path) -> Predict:
    """The bundle's network rebuilt from its weights (torch and timm), answering as its exports would."""
    net, _ = load_bundle_model(directory)
    return lambda pixels: eager_outputs(net, pixels)


def bundle_predictor(directory: Path, runtime: str, threads: int | None = None) -> Predict:
    """The bundle's model on `runtime`: "eager" (the network itself), or on one of the runtimes of its exports
    (``shoplens.bundle.EXPORTED_RUNTIMES``), exported once (`exported_bundle`) where the bundle lacks it."""
    if runtime == "eager":
        return eager_predictor(directory)
    served = exported_bundle(directory, runtime)
    return load_predictor(served, read_bundle(served)[0], runtime, threads)


def export_cache() -> Path:
    """Where exported copies of bundles are kept (derived files: safe to delete)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "shoplens" / "exports"


def exported_bundle(directory: Path, runtime: str, cache: Path | None = None) -> Path:
    """`directory` itself where it has a `runtime` export, else a copy (in `cache`) that has it and serves on it.

    The copy is keyed by the bundle's description, so a retrained bundle is exported again and an unchanged
    one only once; it is written atomically (``shoplens.bundle.write_bundle``) and verified when read."""
    info, weights = read_bundle(directory)
    if runtime not in EXPORTED_RUNTIMES:
        raise ShopLensError(f"a bundle is exported for {', '.join(EXPORTED_RUNTIMES)}, not {runtime!r}")
    if EXPORTED_RUNTIMES[runtime] in info.exports:
        return directory
    key = hashlib.sha256((directory / MANIFEST_NAME).read_bytes()).hexdigest()[:16]
    copy = (cache or export_cache()) / f"{info.version or 'bundle'}-{key}-{runtime}"
    try:
        read_bundle(copy)
        return copy
    except ShopLensError:
        pass  # absent, or damaged: written again
    net, _ = load_bundle_model(directory)
    with tempfile.TemporaryDirectory() as scratch:
        exports = {name: directory / entry["file"] for name, entry in info.exports.items()}
        exports |= export_models(net, info.preprocessing, Path(scratch), (EXPORTED_RUNTIMES[runtime],))
        served = dataclasses.replace(info, serving=dataclasses.replace(info.serving, runtime=runtime))
        write_bundle(copy, served, weights, exports)
    if (directory / MODEL_CARD).is_file():
        shutil.copyfile(directory / MODEL_CARD, copy / MODEL_CARD)
    return copy

