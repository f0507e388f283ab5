"""Plots (PNG) and the one HTML page that shows a run's results."""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on training machines
import matplotlib.pyplot as plt
import numpy as np
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from shoplens.imaging import save_thumbnail


def _save(fig: plt.Figure, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def plot_curves(history: list[dict[str, float]], path: Path) -> str:
    epochs = [row["epoch"] for row in history]
    fig, (loss_ax, acc_ax) = plt.subplots(1, 2, figsize=(10, 4))
    for key, name in (("train", "train"), ("val", "validation")):
        loss_ax.plot(epochs, [row[f"{key}_loss"] for row in history], marker="o", label=name)
        acc_ax.plot(epochs, [row[f"{key}_acc"] for row in history], marker="o", label=name)
    loss_ax.set(title="Loss per epoch", xlabel="epoch", ylabel="cross-entropy")
    acc_ax.set(title="Category accuracy per epoch", xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
    loss_ax.legend()
    acc_ax.legend()
    return _save(fig, path)


def plot_confusion(evaluation: dict[str, Any], path: Path) -> str:
    matrix, labels = np.array(evaluation["confusion"]), evaluation["labels"]
    size = 2 + 0.55 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for (i, j), value in np.ndenumerate(matrix):
        ax.text(j, i, str(value), ha="center", va="center",
                color="white" if value > matrix.max() / 2 else "black", fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=f"Confusion matrix ({evaluation['split']}, n={evaluation['n']})")
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, path)


def plot_per_class(evaluation: dict[str, Any], path: Path) -> str:
    rows = evaluation["per_class"]
    fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(rows) + 2), 4))
    ax.bar([r["label"] for r in rows], [r["recall"] for r in rows], color="#4c72b0")
    for i, r in enumerate(rows):
        ax.text(i, r["recall"] + 0.01, f"n={r['support']}", ha="center", fontsize=8)
    ax.set(ylim=(0, 1.1), ylabel="accuracy (recall)",
           title=f"Per-class accuracy ({evaluation['split']}, n={evaluation['n']})")
    ax.tick_params(axis="x", rotation=45)
    return _save(fig, path)


def plot_lda(fit_embeddings: np.ndarray, fit_targets: np.ndarray, embeddings: np.ndarray,
             targets: np.ndarray, labels: list[str], split: str, path: Path) -> str:
    """Embeddings of `split` projected on the 2 linear discriminants fitted on training data.

    Fitting on the training split keeps the plot honest: discriminants fitted on the
    shown points themselves separate them perfectly whenever dimensions outnumber points.
    With two classes there is one discriminant, plotted against random jitter.
    """
    components = min(2, len(set(fit_targets.tolist())) - 1)
    lda = LinearDiscriminantAnalysis(n_components=components).fit(fit_embeddings, fit_targets)
    projected = lda.transform(embeddings)
    if components == 1:
        jitter = np.random.default_rng(0).uniform(-1, 1, len(projected))
        projected = np.column_stack([projected[:, 0], jitter])
    fig, ax = plt.subplots(figsize=(6.5, 5))
    for index in sorted(set(targets.tolist())):
        chosen = targets == index
        ax.scatter(projected[chosen, 0], projected[chosen, 1], s=12, alpha=0.7, label=labels[index])
    ax.set(xlabel="LD1", ylabel="LD2" if components == 2 else "jitter",
           title=f"LDA of embeddings ({split}, n={len(targets)}; fitted on train)")
    ax.legend(fontsize=8, markerscale=1.5)
    return _save(fig, path)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(row.get(c)))}</td>" for c in columns) + "</tr>"
                   for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else "" if value is None else str(value)


THUMBNAIL_SIDE = 120  # pixels: a report's picture, small enough for a page of them
MISTAKES_SHOWN = 12
EXAMPLES_PER_CLASS = 2


@dataclass(frozen=True)
class Gallery:
    """Pictures that explain a figure: a heading, one line on what they are, (thumbnail, caption) each."""

    title: str
    text: str
    figures: list[tuple[str, str]]


def thumbnail(source: Path, directory: Path, name: str) -> str:
    """A square thumbnail of `source` in directory/thumbs/, by its path relative to `directory`."""
    save_thumbnail(source, directory / "thumbs" / name, THUMBNAIL_SIDE)
    return f"thumbs/{name}"


def prediction_galleries(paths: list[Path], probs: np.ndarray, targets: np.ndarray, labels: list[str],
                         split: str, directory: Path) -> list[Gallery]:
    """The split's most confident mistakes, and examples of each class with what the model said."""
    predicted, confidence = probs.argmax(1), probs.max(1)
    wrong = [i for i in np.argsort(-confidence) if predicted[i] != targets[i]][:MISTAKES_SHOWN]
    mistakes = [(thumbnail(paths[i], directory, f"mistake-{rank:02d}.jpg"),
                 f"{labels[targets[i]]} taken for {labels[predicted[i]]} ({confidence[i]:.0%})")
                for rank, i in enumerate(wrong)]
    examples = []
    for label, name in enumerate(labels):
        for i in [i for i in range(len(paths)) if targets[i] == label][:EXAMPLES_PER_CLASS]:
            verdict = "right" if predicted[i] == label else f"said {labels[predicted[i]]}"
            examples.append((thumbnail(paths[i], directory, f"example-{label:02d}-{i}.jpg"),
                             f"{name}: {verdict} ({confidence[i]:.0%})"))
    return [Gallery(f"Most confident mistakes ({split})", "The pictures the model was surest about and got wrong: "
                    "the true label first, then what it said, with its probability.", mistakes),
            Gallery(f"Examples per class ({split})", "Pictures of each class and what the model made of them.",
                    examples)]


def write_html(path: Path, title: str, summary: list[dict[str, Any]], plots: list[str],
               per_class: dict[str, list[dict[str, Any]]], galleries: list[Gallery]) -> None:
    """The report page; images are referenced by relative path beside it."""
    parts = [f"<h1>{html.escape(title)}</h1>", "<h2>Accuracy</h2>",
             _table(summary, ["task", "split", "n", "accuracy", "t 95% CI", "Wilson 95% CI", "top3", "top5"])]
    for task, rows in per_class.items():
        parts += [f"<h2>Per class: {html.escape(task)}</h2>",
                  _table(rows, ["label", "precision", "recall", "f1", "support"])]
    parts += ["<h2>Plots</h2>"] + [f'<img src="{html.escape(p)}" alt="{html.escape(p)}">' for p in plots]
    for gallery in (g for g in galleries if g.figures):
        parts += [f"<h2>{html.escape(gallery.title)}</h2><p>{html.escape(gallery.text)}</p><div class='thumbs'>"]
        parts += [f"<figure><img src='{html.escape(image)}' alt=''><figcaption>{html.escape(caption)}"
                  "</figcaption></figure>" for image, caption in gallery.figures]
        parts.append("</div>")
    style = ("body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}img{max-width:100%;margin:0.5em 0}"
             ".thumbs{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;width:120px;font-size:11px}"
             "figure img{width:120px;height:120px;object-fit:cover}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
    path.write_text(page, encoding="utf-8")
