"""Benchmark: what each of a four-view starter's test-time views buys, and what a one-view starter taught
by it buys back, on clothing-small validation.

The four-view starter (`--bundle`, models/starter-four-views) averages its members' category
probabilities over four views of a picture: the centre crop, the whole picture fitted into the
square, and their mirror images. This runs every view once and prints, for each subset of views
(the cost is one network pass a view), validation accuracy with its 95 % t interval and McNemar's
exact test against all four (`shoplens.stats`); then the same for `--student` (models/starter, the
served starter: the whole picture alone, distilled from the four views) as it answers. Skips where
the data is absent.

    .venv/bin/python bench/starter_views.py [--data DIR] [--bundle models/starter-four-views] [--student DIR]
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import torch
from clothing_small import bundle_arguments, validation_pictures

from network.ensemble import views_and_mirrors
from network.models import load_bundle_model
from serving.operations.cli import STARTER_BUNDLE
from shoplens.bundle import read_bundle
from shoplens.imaging import decode_image
from shoplens.preprocessing import eval_batch
from shoplens.stats import mcnemar, t_interval

VIEWS = ("crop", "crop mirrored", "whole", "whole mirrored")  # the order views_and_mirrors gives
SUBSETS = {"crop": (0,), "crop + mirror": (0, 1), "whole": (2,), "crop + whole": (0, 2),
           "crop + whole + crop mirror": (0, 1, 2), "all four": (0, 1, 2, 3)}
BATCH = 16
FOUR_VIEWS_STARTER = STARTER_BUNDLE.parent / "starter-four-views"  # the served starter's teacher


def view_log_probs(bundle: Path, paths: list[Path]) -> np.ndarray:
    """(views, pictures, classes): each view's category log-probabilities, averaged over the members."""
    net, info = load_bundle_model(bundle)
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(paths), BATCH):
            pixels = torch.from_numpy(eval_batch([decode_image(p.read_bytes()) for p in paths[start:start + BATCH]],
                                                 info.preprocessing))
            views = views_and_mirrors(pixels)
            members = []
            for member in net.members:
                trunk = member.trunk(views.flatten(0, 1))
                logits = member.head(member.tuned_features(trunk)).unflatten(0, views.shape[:2])
                members.append(logits.log_softmax(-1))
            chunks.append((torch.logsumexp(torch.stack(members), 0) - math.log(len(members))).numpy())
    return np.concatenate(chunks, axis=1)


def answered_right(bundle: Path, paths: list[Path], targets: np.ndarray) -> np.ndarray:
    """Whether the bundle's network, on its own views, names each picture's category."""
    net, info = load_bundle_model(bundle)
    predicted = []
    with torch.inference_mode():
        for start in range(0, len(paths), BATCH):
            pixels = eval_batch([decode_image(p.read_bytes()) for p in paths[start:start + BATCH]], info.preprocessing)
            predicted.append(net(torch.from_numpy(pixels))["category"].argmax(1).numpy())
    return np.concatenate(predicted) == targets


def main() -> int:
    args = bundle_arguments(__doc__.splitlines()[0], FOUR_VIEWS_STARTER, {"student": STARTER_BUNDLE})
    if args is None:
        return 0
    paths, targets = validation_pictures(args.data, load_bundle_model(args.bundle)[1].tasks["category"])
    per_view = view_log_probs(args.bundle, paths)
    right, passes = {}, {name: len(subset) for name, subset in SUBSETS.items()}
    for name, subset in SUBSETS.items():
        probabilities = np.exp(per_view[list(subset)]).mean(0)
        right[name] = probabilities.argmax(1) == targets
    if args.student.resolve() != args.bundle.resolve():
        info = read_bundle(args.student)[0]
        name = f"{args.student} ({', '.join(info.preprocessing.views)})"
        right[name] = answered_right(args.student, paths, targets)
        passes[name] = len(info.preprocessing.views) * (2 if info.backbone.get("mirrors", True) else 1)
    served = right["all four"]
    print(f"validation pictures: n={len(paths)}; views: {', '.join(VIEWS)}")
    for name, hits in right.items():
        paired = mcnemar(list(served), list(hits))
        print(f"  {name:28s} {passes[name]} pass(es): accuracy {t_interval(hits.astype(float))}; "
              f"vs all four: only all-four right {paired.b}, only this right {paired.c}, McNemar p={paired.p:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
