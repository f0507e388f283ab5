"""The starter's colour model and the figures of colour from pixels, against colours labelled by eye.

The colour model (``shoplens.colour.ColourModel``) is a multinomial logistic regression over the pixels'
colour reading (``shoplens.colour.read_colour``'s features) and the served members' pooled trunk maps,
fitted on labelled train pictures and measured on labelled validation pictures beside colour from the
pixels alone, with McNemar's exact test.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch

from network.ensemble import Ensemble, first_view_words, trunk_colour_features
from shoplens import ShopLensError
from shoplens.colour import ColourModel, dominant_colour, read_colour
from shoplens.imaging import decode_image
from shoplens.stats import mcnemar, t_interval
from training.metrics import interval_words


@dataclass(frozen=True)
class ColourLabels:
    """Colours labelled by eye (CSV files of file, colour; each file relative to the data folder): the
    train pictures' labels fit the colour model, the validation pictures' labels measure it."""

    train: Sequence[Path]
    validation: Path

    @staticmethod
    def read(paths: Sequence[Path]) -> dict[str, str]:
        return {row["file"]: row["colour"] for path in paths for row in csv.DictReader(path.open(encoding="utf-8"))}


COLOUR_C = 0.03  # the colour model's inverse L2 strength, chosen on validation (0.01 and 0.1 were within 0.012)


def colour_inputs(served: Ensemble, maps: dict, paths: Sequence[Path], data: Path,
                  files: Sequence[str]) -> tuple[np.ndarray, list]:
    """The colour model's inputs for labelled pictures of a split, and their pixel readings: each
    reading's features beside the served members' pooled trunk maps of their first view (view 0: the centre
    crop of four views, the whole picture of one); `paths`: the split's pictures, in the maps' rows."""
    position = {str(path.relative_to(data)): row for row, path in enumerate(paths)}
    unknown = [file for file in files if file not in position]
    if unknown:
        raise ShopLensError(f"{len(unknown)} labelled colour pictures are not in {data}, e.g. {unknown[0]}")
    rows = [position[file] for file in files]
    model_features = torch.cat([trunk_colour_features(maps[m.arch][rows, 0]) for m in served.members], dim=1)
    readings = [read_colour(decode_image(data / file)) for file in files]
    return np.hstack([np.stack([r.features for r in readings]), model_features.numpy()]), readings


def fit_logistic(inputs: np.ndarray, colours: Sequence[str], c: float = COLOUR_C) -> ColourModel:
    """A multinomial logistic regression on standardised inputs, as a ColourModel (no figures yet)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(inputs)
    fitted = LogisticRegression(C=c, max_iter=5000).fit(scaler.transform(inputs), list(colours))
    return ColourModel(tuple(fitted.classes_), scaler.mean_, scaler.scale_, fitted.coef_, fitted.intercept_, {})


def colour_accuracy(model: ColourModel, inputs: np.ndarray, readings: Sequence, colours: Sequence[str]) -> dict:
    """The model's accuracy on labelled pictures beside that of colour from pixels, and McNemar's exact test."""
    truth = np.array(colours)
    right = np.array(model.names)[model.logits(inputs).argmax(1)] == truth
    pixels_right = np.array([reading.estimate.name for reading in readings]) == truth
    return {"accuracy": t_interval(right.astype(float)).as_dict(),
            "pixels_accuracy": t_interval(pixels_right.astype(float)).as_dict(),
            "mcnemar": asdict(mcnemar(right.tolist(), pixels_right.tolist()))}


def fit_colour_model(served: Ensemble, splits: dict, data: Path, labels: ColourLabels) -> ColourModel:
    """The colour model fitted on the labelled train pictures, measured on the labelled validation ones."""
    train, val = ColourLabels.read(labels.train), ColourLabels.read([labels.validation])
    inputs, _ = colour_inputs(served, splits["train"][0], splits["train"][1].paths, data, list(train))
    model = fit_logistic(inputs, list(train.values()))
    val_inputs, readings = colour_inputs(served, splits["validation"][0], splits["validation"][1].paths,
                                        data, list(val))
    figures = colour_accuracy(model, val_inputs, readings, list(val.values()))
    return replace(model, figures={"train_labels": len(train), "C": COLOUR_C,
                                   "validation_labels": labels.validation.name, **figures})


def colour_model_line(figures: dict) -> str:
    paired = figures["mcnemar"]
    return (f"colour model (logistic regression, C {figures['C']}, on {figures['train_labels']} train pictures "
            f"labelled by eye): accuracy {interval_words(figures['accuracy'])} against {figures['validation_labels']} "
            f"(validation split); colour from pixels on the same pictures "
            f"{interval_words(figures['pixels_accuracy'])}; "
            f"{paired['b']} pictures only the model names, {paired['c']} only the pixels, McNemar exact "
            f"p = {paired['p']:.4f}")


def colour_figures(data: Path, labels_csv: Path, second_csv: Path | None = None) -> dict:
    """Colour from pixels against the hand-made labels of `labels_csv` (file, colour, single_colour; each file
    relative to `data`, its first folder the split); with `second_csv` (file, colour: the same pictures labelled
    again by someone else, blind to the first labels), also how often the labellers agree, accuracy against the
    second labels, and accuracy on the pictures whose two labels agree."""
    rows = list(csv.DictReader(labels_csv.open(encoding="utf-8")))
    named = np.array([dominant_colour(decode_image(data / row["file"])).name for row in rows])
    first = np.array([row["colour"] for row in rows])
    right = (named == first).astype(float)
    single = np.array([row["single_colour"] == "yes" for row in rows])
    figures = {"split": "/".join(sorted({Path(row["file"]).parts[0] for row in rows})),
               "all": t_interval(right).as_dict(), "single_colour": t_interval(right[single]).as_dict()}
    if second_csv is not None:
        labelled = {row["file"]: row["colour"] for row in csv.DictReader(second_csv.open(encoding="utf-8"))}
        if set(labelled) != {row["file"] for row in rows}:
            raise ShopLensError(f"{second_csv.name} does not label the same pictures as {labels_csv.name}")
        second = np.array([labelled[row["file"]] for row in rows])
        agree = second == first
        figures |= {"labellers_agree": t_interval(agree.astype(float)).as_dict(),
                    "second_labels": t_interval((named == second).astype(float)).as_dict(),
                    "labels_agreed": t_interval(right[agree]).as_dict()}
    return figures


COLOUR_FIGURE_NAMES = {"all": "all pictures", "single_colour": "single_colour pictures",
                       "second_labels": "all pictures, against the second labels",
                       "labels_agreed": "pictures whose two labels agree"}


def colour_lines(data: Path, labels: dict[str, tuple[Path, Path | None]]) -> list[str]:
    """Colour from pixels as the benchmarks print it, for each role ("tuning", "evaluation") and its labels
    (and second labels, if any)."""
    lines = []
    for role, (labels_csv, second_csv) in labels.items():
        figures = colour_figures(data, labels_csv, second_csv)
        lines += [f"colour from pixels, {role} ({labels_csv.name}, {figures['split']} split, {name}): "
                  f"accuracy {interval_words(figures[key])}"
                  for key, name in COLOUR_FIGURE_NAMES.items() if key in figures]
        if second_csv is not None:
            lines.append(f"labellers of {labels_csv.name} and {second_csv.name} agree on "
                         f"{interval_words(figures['labellers_agree'])}")
    return lines


def colour_card(report: dict) -> str:
    """The model card's colour line: the colour model and its figures, or colour from pixels alone."""
    if "colour_model" not in report:
        return "from its pixels (`shoplens/colour.py`)."
    figures = report["colour_model"].figures
    first_view = first_view_words(report["training"].get("views", "four"))
    return f"""a logistic regression (`shoplens.colour.ColourModel`) over the pixels' colour reading
  (`shoplens/colour.py`) and the backbone's pooled trunk map of the {first_view}, fitted on
  {figures['train_labels']} train pictures labelled by eye; validation accuracy {interval_words(figures['accuracy'])}
  against `bench/{figures['validation_labels']}`, where colour from the pixels alone scores
  {interval_words(figures['pixels_accuracy'])} (McNemar exact p = {figures['mcnemar']['p']:.4f}). The answer
  gives the pixels' own estimate beside it (`colour_from_pixels`). Most errors: black, navy blue and
  charcoal grey in dim photographs, and the dominant colour of striped or printed garments."""
