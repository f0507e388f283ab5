"""Exporting a trained network as self-contained TorchScript and ONNX models (format: shoplens.bundle)."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shoplens import ShopLensError
from shoplens.bundle import EXPORT_FILES, Preprocessing
from shoplens.exported import EMBEDDING, onnx_predictor, torchscript_predictor
from training.models import ShopLensNet

TOLERANCE = 1e-4  # largest difference (probability, embedding component) of an export to the eager network


class Probabilities(nn.Module):
    """The network with softmax on each head, and its pooled features L2-normalised (visual search): what
    every runtime serves."""

    def __init__(self, net: ShopLensNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.net.embed(pixels)
        answer = {task: head(features).softmax(1) for task, head in self.net.heads.items()}
        answer[EMBEDDING] = nn.functional.normalize(features, dim=1)
        return answer


def eager_probabilities(net: ShopLensNet, pixels: np.ndarray) -> dict[str, np.ndarray]:
    with torch.inference_mode():
        return {task: probs.numpy() for task, probs in Probabilities(net).eval()(torch.from_numpy(pixels)).items()}


def export_models(net: ShopLensNet, pre: Preprocessing, folder: Path) -> dict[str, Path]:
    """Write the TorchScript and ONNX models of `net` into `folder`, checked against it; {runtime: path}."""
    model = Probabilities(net).eval()
    example = torch.randn(2, 3, pre.image_size, pre.image_size, generator=torch.Generator().manual_seed(0))
    paths = {runtime: folder / name for runtime, name in EXPORT_FILES.items()}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and exporter notes about constant shapes: the batch stays dynamic
        traced = torch.jit.freeze(torch.jit.trace(model, example, strict=False))
        traced.save(str(paths["torchscript"]))
        torch.onnx.export(model, (example,), str(paths["onnx"]), input_names=["pixels"],
                          output_names=[*net.heads, EMBEDDING], dynamic_axes={"pixels": {0: "batch"}}, dynamo=False)
    check_exports(net, paths, example.numpy()[:1].repeat(3, axis=0))
    return paths


def check_exports(net: ShopLensNet, paths: dict[str, Path], pixels: np.ndarray) -> float:
    """The largest probability difference of the exports to `net` on `pixels`; raises above TOLERANCE."""
    expected = eager_probabilities(net, pixels)
    worst = 0.0
    for runtime, predict in (("torchscript", torchscript_predictor(paths["torchscript"])),
                             ("onnx", onnx_predictor(paths["onnx"]))):
        got = predict(pixels)
        difference = max(float(np.abs(got[task] - expected[task]).max()) for task in expected)
        if difference >= TOLERANCE:
            raise ShopLensError(f"the {runtime} export differs from the network by {difference:.2e}")
        worst = max(worst, difference)
    return worst
