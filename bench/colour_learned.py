"""Benchmark: what more colour labels buy the starter's colour model, against colour from pixels.

clothing-small has no colour labels; ours are `colour_labels_train*.csv` (train pictures) and
`colour_labels.csv` (validation pictures), all labelled by eye. The starter's colour model
(`shoplens.colour.ColourModel`, fitted by `training.colour_fit.fit_colour_model`) is a logistic regression
over the pixels' colour reading and efficientnet_lite1's pooled trunk map of the centre crop (frozen
ImageNet weights: fine-tuning never moves the trunk, so no bundle is needed here). This fits it on a
growing share of the train labels and prints each one's validation accuracy with its 95 % t interval,
beside colour from pixels on the same pictures and McNemar's exact test between the two.
Skips where the data is absent.

    .venv/bin/python bench/colour_learned.py [--data DIR] [--feature-cache DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from clothing_small import DEFAULT_DATA, absent
from colour_clothing_small import COLOUR_LABELS

from network.ensemble import Ensemble
from shoplens.splitfile import Sample
from training.cli import STARTER_COLOUR_LABELS
from training.colour_fit import ColourLabels, colour_accuracy, colour_inputs, fit_logistic
from training.features import trunk_maps

ROOT = Path(__file__).resolve().parents[1]
SHARES = (0.25, 0.5, 0.75, 1.0)  # of the train labels, drawn at random (seed 0)


def inputs_of(served: Ensemble, data: Path, labels: dict[str, str], cache: Path) -> tuple[np.ndarray, list]:
    """The colour model's inputs and the pixel readings of the labelled pictures (trunk maps cached)."""
    files = list(labels)
    pictures = [Sample(data / file, "?") for file in files]
    maps = trunk_maps(served, pictures, cache, mirrors=False)
    return colour_inputs(served, maps, [p.path for p in pictures], data, files)


def line(name: str, figure: dict) -> str:
    return (f"{name}: accuracy {figure['estimate']:.4f} (95% t CI [{figure['low']:.4f}, {figure['high']:.4f}], "
            f"n={figure['n']}, validation split)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--feature-cache", type=Path, default=Path("~/.cache/shoplens/features").expanduser())
    args = parser.parse_args()
    if absent(args.data):
        return 0
    train = ColourLabels.read([ROOT / path for path in STARTER_COLOUR_LABELS])
    val = ColourLabels.read([COLOUR_LABELS["evaluation"][0]])
    served = Ensemble.build(["efficientnet_lite1"], 10).eval()
    train_inputs, _ = inputs_of(served, args.data, train, args.feature_cache)
    val_inputs, readings = inputs_of(served, args.data, val, args.feature_cache)
    colours = np.array(list(train.values()))
    order = np.random.default_rng(0).permutation(len(colours))
    for share in SHARES:
        chosen = order[:round(share * len(order))]
        figures = colour_accuracy(fit_logistic(train_inputs[chosen], colours[chosen]), val_inputs, readings,
                                  list(val.values()))
        if share == SHARES[0]:
            print(line("colour from pixels", figures["pixels_accuracy"]))
        paired = figures["mcnemar"]
        print(line(f"colour model, {len(chosen)} train labels", figures["accuracy"])
              + f"; against the pixels: {paired['b']} pictures only the model names, {paired['c']} only the "
              f"pixels, McNemar exact p = {paired['p']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
