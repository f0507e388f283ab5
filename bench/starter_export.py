"""Benchmark: the starter model exported to ONNX against the network itself, on clothing-small validation.

Exports the bundle as serving does (`network.export.exported_bundle`, into a scratch cache), runs the
eager network and the ONNX model on every validation picture (both views and their mirrors, one
batch), and prints: the largest difference of each output the handler reads (calibrated category
probabilities, garment score, colour features, descriptors), top-1 agreement, each runtime's accuracy
with its 95 % t interval and McNemar's test of the pair, and in-process milliseconds per picture at
batch 1 and 8 with 1 and 2 threads. Skips where the data is absent.

    .venv/bin/python bench/starter_export.py [--data DIR] [--bundle models/starter]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from clothing_small import bundle_arguments, validation_pictures

from network.export import eager_predictor, exported_bundle
from serving.operations.cli import STARTER_BUNDLE
from shoplens.bundle import read_bundle
from shoplens.classifier import calibrated_probabilities
from shoplens.exported import Predict, load_predictor
from shoplens.imaging import decode_image
from shoplens.preprocessing import eval_batch
from shoplens.stats import mcnemar, t_interval

BATCH = 8


def run_all(predict: Predict, batches: list[np.ndarray]) -> dict[str, np.ndarray]:
    outputs = [predict(batch) for batch in batches]
    return {name: np.concatenate([out[name] for out in outputs]) for name in outputs[0]}


def ms_per_picture(predict: Predict, pixels: np.ndarray, repeats: int = 5) -> float:
    predict(pixels)  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        predict(pixels)
    return (time.perf_counter() - started) / repeats / len(pixels) * 1000


def main() -> int:
    args = bundle_arguments(__doc__.splitlines()[0], STARTER_BUNDLE)
    if args is None:
        return 0
    info, _ = read_bundle(args.bundle)
    paths, targets = validation_pictures(args.data, info.tasks["category"])
    pixels = eval_batch([decode_image(p.read_bytes()) for p in paths], info.preprocessing)
    batches = [pixels[start:start + BATCH] for start in range(0, len(pixels), BATCH)]
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        exported = exported_bundle(args.bundle, "onnx", Path(cache))
        print(f"exported {args.bundle} to ONNX in {time.perf_counter() - started:.1f}s "
              f"({(exported / read_bundle(exported)[0].exports['onnx']['file']).stat().st_size / 1e6:.1f} MB)")
        torch.set_num_threads(2)
        runtimes = {"eager": eager_predictor(args.bundle),
                    "onnx": load_predictor(exported, read_bundle(exported)[0], "onnx", 2)}
        outputs = {name: run_all(predict, batches) for name, predict in runtimes.items()}
        print_agreement(outputs, info, targets)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            timed = {"eager": runtimes["eager"], "onnx": load_predictor(exported, read_bundle(exported)[0], "onnx",
                                                                        threads)}
            for size in (1, BATCH):
                figures = ", ".join(f"{name} {ms_per_picture(p, pixels[:size]):.1f}" for name, p in timed.items())
                print(f"  ms/picture in-process, {threads} thread(s), batch {size}: {figures}")
    return 0


def print_agreement(outputs: dict[str, dict[str, np.ndarray]], info, targets: np.ndarray) -> None:
    eager, onnx = outputs["eager"], outputs["onnx"]
    probabilities = {name: calibrated_probabilities(out["category"], info) for name, out in outputs.items()}
    print(f"validation pictures: n={len(targets)}")
    print(f"  max |onnx - eager|, calibrated category probabilities: "
          f"{np.abs(probabilities['onnx'] - probabilities['eager']).max():.2e}")
    for name in eager:
        if name != "category":
            print(f"  max |onnx - eager|, {name}: {np.abs(onnx[name] - eager[name]).max():.2e}")
    top1 = {name: probs.argmax(1) for name, probs in probabilities.items()}
    print(f"  same top-1: {int((top1['onnx'] == top1['eager']).sum())} of {len(targets)}")
    right = {name: top == targets for name, top in top1.items()}
    for name, hits in right.items():
        print(f"  {name} accuracy: {t_interval(hits.astype(float))}")
    paired = mcnemar(list(right["eager"]), list(right["onnx"]))
    print(f"  McNemar eager vs onnx: only eager right {paired.b}, only onnx right {paired.c}, p={paired.p:.4f}")


if __name__ == "__main__":
    sys.exit(main())
