"""Exporting a trained network as self-contained TorchScript and ONNX models (format: shoplens.bundle)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from shoplens import ShopLensError
from shoplens.bundle import EXPORT_FILES, Preprocessing
from shoplens.exported import DESCRIPTORS, PLAIN_OUTPUTS, onnx_predictor, torchscript_predictor

TOLERANCE = 1e-4  # largest difference (probability, score, descriptor component) of an export to the eager network


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
    example = torch.randn(2, 3, pre.image_size, pre.image_size, generator=torch.Generator().manual_seed(0))
    paths = {runtime: folder / EXPORT_FILES[runtime] for runtime in runtimes}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and exporter notes about constant shapes: the batch stays dynamic
        if "torchscript" in paths:
            torch.jit.freeze(torch.jit.trace(model, example, strict=False)).save(str(paths["torchscript"]))
        if "onnx" in paths:
            torch.onnx.export(model, (example,), str(paths["onnx"]), input_names=["pixels"],
                              output_names=list(model(example)), dynamic_axes={"pixels": {0: "batch"}},
                              dynamo=False)
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
