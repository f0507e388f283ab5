"""Benchmark: colour from pixels (`shoplens/colour.py`) against colours labelled by eye on clothing-small.

Prints accuracy with its 95 % t interval, for all labelled pictures and for the single-coloured
ones, on the tuning labels (`colour_labels_train.csv`, train pictures: the thresholds were tuned
on them) and on the evaluation labels (`colour_labels.csv`, validation pictures: never tuned on).
The evaluation pictures were labelled a second time, blind to the first labels
(`colour_labels_second.csv`): it also prints how often the two labellers agree, accuracy against
the second labels, and accuracy on the pictures whose two labels agree. Skips where the data is absent.

    .venv/bin/python bench/colour_clothing_small.py [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from clothing_small import DEFAULT_DATA, absent

from training.colour_fit import colour_lines

HERE = Path(__file__).parent
# role: (labels, the same pictures labelled again blind by someone else or None)
COLOUR_LABELS = {"tuning": (HERE / "colour_labels_train.csv", None),
                 "evaluation": (HERE / "colour_labels.csv", HERE / "colour_labels_second.csv")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    if absent(args.data):
        return 0
    print("\n".join(colour_lines(args.data, COLOUR_LABELS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
