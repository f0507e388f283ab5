"""The report of a ``shoplens-batch classify`` output: HTML with PNG plots, from the Parquet alone.

Counts per label and colour, the confidence histogram, the low-confidence review list (its
first pictures shown), the pictures ranked by resolution for each label and, when the input
carried true labels (a crawl manifest), accuracy per label with its 95 % Wilson interval and
sample size, and the most confident mistakes, shown.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import pandas as pd
from scipy.stats import binomtest

from shoplens.imaging import local_path, save_thumbnail

COLUMNS = ["sha1", "source", "width", "height", "category", "probability", "colour", "low_confidence", "error",
           "true_category"]
REVIEW_ROWS = 200  # the review list shows the least confident pictures first
GALLERY_PICTURES = 24  # thumbnails above a list: the first screenful of what it lists
STYLE = (".thumbs{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;width:120px;font-size:11px}"
         "figure img{width:120px;height:120px;object-fit:cover}")


def label_accuracy(answered: pd.DataFrame) -> pd.DataFrame:
    """Per true label: n, correct, accuracy and its 95 % Wilson interval (the whole input is the split)."""
    rows = []
    for label, group in answered.dropna(subset=["true_category"]).groupby("true_category"):
        correct = int((group["category"] == label).sum())
        interval = binomtest(correct, len(group)).proportion_ci(0.95, method="wilson")
        rows.append({"label": label, "n": len(group), "correct": correct, "accuracy": correct / len(group),
                     "low": interval.low, "high": interval.high})
    return pd.DataFrame(rows, columns=["label", "n", "correct", "accuracy", "low", "high"])


def _png(path: Path, title: str, draw: Callable[[Any], None]) -> None:
    """One plot, drawn by `draw` on its axes, saved as `path`."""
    figure, axes = plt.subplots(figsize=(7, 3.5))
    draw(axes)
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _counts_png(counts: pd.Series, title: str, path: Path) -> None:
    _png(path, title, lambda axes: (counts.plot.bar(ax=axes, color="#4c72b0"), axes.set_ylabel("pictures")))


def _histogram_png(answered: pd.DataFrame, path: Path) -> None:
    def draw(axes: Any) -> None:
        axes.hist(answered["probability"], bins=20, range=(0, 1), color="#55a868")
        axes.set_xlabel("top-1 probability")
        axes.set_ylabel("pictures")

    _png(path, f"confidence (n={len(answered)})", draw)


def _accuracy_png(accuracy: pd.DataFrame, path: Path) -> None:
    def draw(axes: Any) -> None:
        errors = [accuracy["accuracy"] - accuracy["low"], accuracy["high"] - accuracy["accuracy"]]
        axes.bar(accuracy["label"], accuracy["accuracy"], yerr=errors, capsize=4, color="#c44e52")
        axes.set_ylim(0, 1)

    _png(path, f"accuracy per true label, 95 % Wilson intervals (n={int(accuracy['n'].sum())})", draw)


def _gallery(rows: pd.DataFrame, folder: Path, prefix: str, caption: Callable[[Any], str]) -> str:
    """Thumbnails of the rows' pictures (those still readable at their source), each with its caption."""
    figures = []
    for number, row in enumerate(rows.itertuples()):
        name = f"thumbs/{prefix}-{number:03d}.jpg"
        if save_thumbnail(local_path(str(row.source)), folder / name):
            figures.append(f"<figure><img src='{name}' alt=''><figcaption>{html.escape(caption(row))}</figcaption>"
                           "</figure>")
    return f"<div class='thumbs'>{''.join(figures)}</div>" if figures else ""


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, escape=True, float_format=lambda v: f"{v:.4f}")


def write_report(output: str, folder: Path, top: int = 20) -> Path:
    """Write ``folder/index.html`` and its PNGs from the classify output at `output`; returns the page."""
    frame = pd.read_parquet(output, columns=COLUMNS)
    folder.mkdir(parents=True, exist_ok=True)
    answered = frame[frame["error"].isna()]
    sections = [f"<p>{len(frame)} pictures: {len(answered)} answered, {len(frame) - len(answered)} errors.</p>"]
    errors = frame["error"].value_counts().rename_axis("error").reset_index(name="pictures")
    sections.append("<h2>Errors by reason</h2>" + _table(errors))
    for column, title in (("category", "pictures per label"), ("colour", "pictures per colour")):
        counts = answered[column].value_counts()
        if len(counts):
            _counts_png(counts, title, folder / f"{column}.png")
            sections.append(f'<h2>{title.capitalize()}</h2><img src="{column}.png">')
    _histogram_png(answered, folder / "confidence.png")
    sections.append('<h2>Confidence</h2><img src="confidence.png">')
    accuracy = label_accuracy(answered)
    if len(accuracy):
        _accuracy_png(accuracy, folder / "accuracy.png")
        sections.append('<h2>Accuracy per label (true labels from the input)</h2><img src="accuracy.png">'
                        + _table(accuracy))
    review = answered[answered["low_confidence"]].sort_values("probability").head(REVIEW_ROWS)
    sections.append(f"<h2>Low-confidence review list ({int(answered['low_confidence'].sum())} pictures, "
                    f"least confident {len(review)} shown)</h2>"
                    + _gallery(review.head(GALLERY_PICTURES), folder, "review",
                               lambda r: f"{r.category} ({r.probability:.0%})")
                    + _table(review[["source", "category", "probability", "colour", "true_category"]]))
    if "true_category" in answered and answered["true_category"].notna().any():
        wrong = answered[answered["true_category"].notna() & (answered["true_category"] != answered["category"])]
        wrong = wrong.sort_values("probability", ascending=False).head(GALLERY_PICTURES)
        sections.append(f"<h2>Most confident mistakes ({len(wrong)} shown)</h2>"
                        + _gallery(wrong, folder, "mistake",
                                   lambda r: f"{r.true_category} taken for {r.category} ({r.probability:.0%})"))
    ranked = answered.assign(pixels=answered["width"] * answered["height"]).sort_values(
        ["category", "pixels"], ascending=[True, False])
    sections.append(f"<h2>Pictures by resolution, per label (top {top})</h2>")
    for label, group in ranked.groupby("category"):
        sections.append(f"<h3>{html.escape(str(label))}</h3>"
                        + _table(group.head(top)[["source", "width", "height", "probability"]]))
    page = folder / "index.html"
    page.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>ShopLens batch report</title>"
                    f"<style>{STYLE}</style></head>"
                    f"<body><h1>ShopLens batch report: {html.escape(output)}</h1>{''.join(sections)}</body></html>\n",
                    encoding="utf-8")
    return page
