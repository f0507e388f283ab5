"""Benchmark: the starter model (EfficientNet-Lite ensemble, last blocks fine-tuned) on clothing-small, here.

Prints, on the validation split, for each backbone alone and for the best ensemble
(probability average + flip test-time augmentation): accuracy with its 95 % t interval
for ten classes and for dress/longsleeve/shirt, expected calibration error before and
after temperature scaling, inference ms/picture; then the not-a-garment figures, the
training wall time with the load average, the colour model's accuracy beside colour from
pixels on the same pictures (the model fitted on the train labels `shoplens-train starter` reads),
and colour-from-pixels accuracy (as `bench/colour_clothing_small.py` prints it). Trunk maps are
cached (`--feature-cache`), so a second run only fine-tunes. Skips where the data is absent.

    .venv/bin/python bench/starter_clothing_small.py [--data DIR] [--members a,b,c]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from clothing_small import DEFAULT_DATA, absent
from colour_clothing_small import COLOUR_LABELS

from training.cli import STARTER_COLOUR_LABELS
from training.colour_fit import ColourLabels, colour_lines
from training.starter import StarterRecipe, report_lines, run_starter

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--members", default="efficientnet_lite0,efficientnet_lite1,efficientnet_lite2")
    parser.add_argument("--feature-cache", type=Path, default=Path("~/.cache/shoplens/features").expanduser())
    args = parser.parse_args()
    if absent(args.data):
        return 0
    started = time.perf_counter()
    colour = ColourLabels([ROOT / path for path in STARTER_COLOUR_LABELS], COLOUR_LABELS["evaluation"][0])
    report = run_starter(args.data, args.feature_cache, StarterRecipe(args.members.split(",")), colour).report
    print("\n".join(report_lines(report)))
    print("load average (1, 5, 15 min) after the timings: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    print("\n".join(colour_lines(args.data, COLOUR_LABELS)))
    print(f"total wall time {time.perf_counter() - started:.1f}s (features from cache where present)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
