"""The model-comparison table: one row per run, as markdown and CSV."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from shoplens import ShopLensError

COLUMNS = ("model", "weights", "split scheme", "epochs", "trainable layers", "optimiser", "learning rate",
           "dropout", "validation accuracy", "validation 95% CI", "n validation", "test accuracy",
           "test 95% CI", "n test", "runs", "across-run 95% CI (validation)")


def _interval(ev: dict[str, Any] | None) -> str:
    if not ev:
        return ""
    accuracy = ev["accuracy"]
    return f"[{accuracy['low']:.4f}, {accuracy['high']:.4f}]"


def row(metrics: dict[str, Any]) -> dict[str, Any]:
    """A table row from a run's metrics.json content."""
    config, evaluations = metrics["config"], metrics["evaluations"]
    val, test = evaluations.get("validation", {}).get("category"), evaluations.get("test", {}).get("category")
    across = metrics["repeats"].get("validation", {})
    runs = len(across.get("accuracies", [])) or 1
    interval = across.get("interval", {})
    return {
        "model": config["arch"], "weights": Path(config["weights"]).name, "split scheme": metrics["split"]["scheme"],
        "epochs": len(metrics["history"]), "trainable layers": config["trainable"], "optimiser": config["optimizer"],
        "learning rate": config["lr"], "dropout": config["dropout"],
        "validation accuracy": f"{val['accuracy']['estimate']:.4f}" if val else "",
        "validation 95% CI": _interval(val), "n validation": val["n"] if val else 0,
        "test accuracy": f"{test['accuracy']['estimate']:.4f}" if test else "",
        "test 95% CI": _interval(test), "n test": test["n"] if test else 0, "runs": runs,
        "across-run 95% CI (validation)": f"[{interval['low']:.4f}, {interval['high']:.4f}]" if runs > 1 else "",
    }


def write_table(rows: list[dict[str, Any]], base: Path) -> tuple[Path, Path]:
    """Write base.md and base.csv."""
    markdown, table = base.with_suffix(".md"), base.with_suffix(".csv")
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(str(r[c]) for c in COLUMNS) + " |" for r in rows]
    markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with table.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return markdown, table


def compare_runs(run_dirs: list[Path], base: Path) -> tuple[Path, Path]:
    rows = []
    for directory in run_dirs:
        try:
            rows.append(row(json.loads((directory / "metrics.json").read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError) as exc:
            raise ShopLensError(f"{directory} holds no readable metrics.json: {exc}") from None
    return write_table(rows, base)
