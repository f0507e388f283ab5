"""Running a bundle's exported model: TorchScript with torch alone, ONNX Runtime, or OpenVINO
(which compiles the same ONNX file for this CPU).

Each takes the (N, 3, S, S) float32 batch of ``shoplens.preprocessing`` and return
{task: (N, labels) log-probabilities, scores such as "garment": (N,), "embedding": (N, D)
L2-normalised features, "copy_embedding": (N, C) L2-normalised copy descriptor} as NumPy
arrays; the file format is described in ``shoplens.bundle``. torch, onnxruntime and openvino
are imported only for the runtime asked for.
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
# OpenVINO runs in bfloat16 by default where the CPU has AMX or AVX-512 BF16 (this machine's does): 2 to 3x
# faster, but probabilities move by up to 0.05 from the trained model's; float32 answers as ONNX Runtime does
OPENVINO_PRECISION = "f32"


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


def openvino_predictor(path: Path, threads: int | None = None) -> Predict:
    try:
        import openvino
    except ImportError:
        raise ShopLensError(f"{path.name} runs on OpenVINO (the bundle's runtime \"openvino\"), which is not "
                            "installed here: pip install openvino, or archive the bundle for onnx") from None

    config = {"INFERENCE_PRECISION_HINT": OPENVINO_PRECISION, "PERFORMANCE_HINT": "LATENCY"}
    if threads:
        config["INFERENCE_NUM_THREADS"] = threads
    compiled = openvino.Core().compile_model(str(path), "CPU", config)
    # an output that is also an inner node's keeps both names ({"/ReduceMean_output_0", "colour_features"}):
    # the one the export declared is the one without torch's "/module/op" path
    names = [min(output.get_names(), key=lambda name: (name.startswith("/"), name)) for output in compiled.outputs]

    def predict(pixels: np.ndarray) -> dict[str, np.ndarray]:
        answer = compiled.create_infer_request().infer({"pixels": pixels})  # a request each call: thread-safe
        return {name: np.asarray(answer[output]) for name, output in zip(names, compiled.outputs, strict=True)}

    return predict


PREDICTORS = {"torchscript": lambda path, threads: torchscript_predictor(path), "onnx": onnx_predictor,
              "openvino": openvino_predictor}


def load_predictor(directory: Path, info: BundleInfo, runtime: str, threads: int | None = None) -> Predict:
    """The bundle's exported model on `runtime` (one of ``shoplens.bundle.EXPORTED_RUNTIMES``), ready to predict."""
    return PREDICTORS[runtime](exported_model(directory, info, runtime), threads)


def embeddings(predict: Predict, pixels: np.ndarray) -> dict[str, np.ndarray]:
    """{EMBEDDING: (N, D), and COPY_EMBEDDING: (N, C) where the model has it} float32 L2-normalised
    descriptors of a preprocessed batch (visual search, batch jobs)."""
    outputs = predict(pixels)
    if EMBEDDING not in outputs:
        raise ShopLensError("this bundle's exported model has no embedding output: export it again")
    return {name: np.ascontiguousarray(outputs[name], dtype=np.float32) for name in DESCRIPTORS if name in outputs}
