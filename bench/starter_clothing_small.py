"""Benchmark: the starter model (frozen EfficientNet-Lite ensemble) on clothing-small, on this machine.

Prints, on the validation split, for each backbone alone and for the best ensemble
(probability average + flip test-time augmentation): accuracy with its 95 % t interval
for ten classes and for dress/longsleeve/shirt, expected calibration error before and
after temperature scaling, inference ms/picture; then the not-a-garment figures and
colour-from-pixels accuracy on the hand-labelled `bench/colour_labels.csv`. Features are
cached (`--feature-cache`), so a second run takes seconds. Skips where the data is absent.

    .venv/bin/python bench/starter_clothing_small.py [--data DIR] [--members a,b,c]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from clothing_small import DEFAULT_DATA, absent

from training.starter import colour_figures, report_lines, run_starter

COLOUR_LABELS = Path(__file__).with_name("colour_labels.csv")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--members", default="efficientnet_lite0,efficientnet_lite1,efficientnet_lite2")
    parser.add_argument("--feature-cache", type=Path, default=Path("~/.cache/shoplens/features").expanduser())
    args = parser.parse_args()
    if absent(args.data):
        return 0
    started = time.perf_counter()
    _, _, report = run_starter(args.data, args.feature_cache, args.members.split(","))
    print("\n".join(report_lines(report)))
    print("load average (1, 5, 15 min) after the timings: " + ", ".join(f"{v:.2f}" for v in os.getloadavg()))
    colour = colour_figures(args.data, COLOUR_LABELS)
    for name, figure in colour.items():
        print(f"colour from pixels ({name} pictures of bench/colour_labels.csv, validation): accuracy "
              f"{figure['estimate']:.4f}, 95% t CI [{figure['low']:.4f}, {figure['high']:.4f}], n={figure['n']}")
    print(f"total wall time {time.perf_counter() - started:.1f}s (features from cache where present)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
