"""Running a bundle's exported model: TorchScript with torch alone, or ONNX Runtime.

Both take the (N, 3, S, S) float32 batch of ``shoplens.preprocessing`` and return
{task: (N, labels) log-probabilities, scores such as "garment": (N,), "embedding": (N, D)
L2-normalised features, "copy_embedding": (N, C) L2-normalised copy descriptor} as NumPy
arrays; the file format is described in ``shoplens.bundle``. torch and onnxruntime are
imported only for the runtime asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from shoplens import ShopLensError
from shoplens.bundle import BundleInfo, exported_model

EMBEDDING = "embedding"  # the exported models' output beside the tasks: pooled features, L2-normalised
# the descriptor for finding altered copies (near-duplicates): GeM pooling of the frozen backbone's last
# convolutional feature map (Radenovic et al.), L2-normalised; computed in the same pass as the labels
COPY_EMBEDDING = "copy_embedding"
DESCRIPTORS = (EMBEDDING, COPY_EMBEDDING)  # outputs that are one vector per picture, not a distribution
# the model's pooled trunk features of the centre crop, which a bundle's colour model reads beside the pixels
COLOUR_FEATURES = "colour_features"
PLAIN_OUTPUTS = ("garment", COLOUR_FEATURES)  # a score or features per picture, not a distribution over labels
Predict = Callable[[np.ndarray], dict[str, np.ndarray]]


def torchscript_predictor(path: Path) -> Predict:
    import warnings

    import torch

    with warnings.catch_warnings():  # TorchScript is deprecated upstream but still the fastest torch-only form here
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(str(path), map_location="cpu").eval()

    def predict(pixels: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            return {name: out.numpy() for name, out in module(torch.from_numpy(pixels)).items()}

    return predict


def onnx_predictor(path: Path, threads: int | None = None) -> Predict:
    try:
        import onnxruntime
    except ImportError:
        raise ShopLensError(f"{path.name} runs on ONNX Runtime (the bundle's runtime \"onnx\"), which is not "
                            "installed here: pip install onnxruntime, or archive the bundle for torchscript") from None

    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    # idle threads sleep instead of spinning: the cores are shared with the server around the model
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]

    def predict(pixels: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(names, session.run(names, {"pixels": pixels}), strict=True))

    return predict


def load_predictor(directory: Path, info: BundleInfo, runtime: str, threads: int | None = None) -> Predict:
    """The bundle's exported model for `runtime` ("torchscript" or "onnx"), ready to predict."""
    path = exported_model(directory, info, runtime)
    return torchscript_predictor(path) if runtime == "torchscript" else onnx_predictor(path, threads)


def embeddings(predict: Predict, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """{EMBEDDING: (N, D), and COPY_EMBEDDING: (N, C) where the model has it} float32 L2-normalised
    descriptors of a preprocessed batch (visual search, batch jobs)."""
    outputs = predict(pixels)
    if EMBEDDING not in outputs:
        raise ShopLensError("this bundle's exported model has no embedding output: export it again")
    return {name: np.ascontiguousarray(outputs[name], dtype=np.float32) for name in DESCRIPTORS if name in outputs}
