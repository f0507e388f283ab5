"""The main job until serving lands: draw the built-in sample, train on it, report."""

from __future__ import annotations

import argparse
from pathlib import Path

from shoplens.sample import write_sample
from training.train import TrainOptions, run

DEMO_CATEGORIES = ["dress", "shirt", "pullover", "pants", "skirt"]
DEMO_COLOURS = ["red", "blue", "green", "black", "white"]


def run_demo(args: argparse.Namespace) -> None:
    data = Path(args.out) / "sample"
    if not args.data and not args.split:
        if not data.is_dir():
            count = write_sample(data, DEMO_CATEGORIES, DEMO_COLOURS, args.per_label, size=(120, 160), seed=args.seed)
            print(f"drew {count} sample pictures into {data}")
        args.data = str(data)
    run(TrainOptions.from_args(args))
