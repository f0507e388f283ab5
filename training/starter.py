"""The starter model's recipe: EfficientNet-Lite backbones whose last blocks are fine-tuned on cached trunk maps.

The split is the folder split ``shoplens-train train --scheme folders`` reads (``training.splits``); each
member's frozen trunk maps (the feature map entering its last TUNED_BLOCKS blocks) of every view of the
train and validation pictures, with their mirror images where the recipe wants them, come from the feature
cache (``training.features.trunk_maps``); the last blocks and heads are fine-tuned on them
(``training.tail_tuning``); members, the temperature and the category threshold are chosen on validation
(``training.calibration``); the garment gate's threshold comes from the frozen tails on the same maps
(``training.garment_gate``); the colour model is fitted beside (``training.colour_fit``); the bundle is
written as every trained bundle is (``training.bundle_writer``) with its model card (``starter_card.md``).
"""

from __future__ import annotations

import itertools
import os
import string
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from network.ensemble import (
    ARCH,
    TUNED_BLOCKS,
    Ensemble,
    backbone_record,
    first_view_words,
    mean_log_probs,
)
from shoplens.bundle import BundleInfo, ServingSettings, read_bundle
from shoplens.imaging import decode_image
from shoplens.stats import t_interval
from training.bundle_writer import write_trained_bundle
from training.calibration import ECE_BINS, category_sets, expected_calibration_error, fit_temperature, set_threshold
from training.colour_fit import ColourLabels, colour_card, colour_model_line, fit_colour_model
from training.features import trunk_maps
from training.garment_gate import GARMENT_QUANTILE, garment_figures
from training.metrics import interval_words
from training.presets import eval_preset
from training.splits import LabelledPart, Split, read_folder_split
from training.tail_tuning import MemberFit, Teacher, TuneSettings, fit_all

# --- the whole run ------------------------------------------------------------------------

SET_COVERAGE = 0.97  # validation pictures whose true category the answer's category set must hold
# Mirror images of train pictures: they would double the four views' trunk cost on 2 cores; the one-view
# starter has no other augmentation from its cached maps, and they cost it one more pass a picture.
TRAIN_MIRRORS = {"four": False, "whole": True}
# How the model card and the figures name each choice of views (the first alone: network.ensemble.first_view_words).
VIEW_WORDS = {"four": "four views: the centre crop, the whole picture and their mirror images",
              "whole": "one view: the whole picture fitted into the square"}


@dataclass(frozen=True)
class StarterRecipe:
    """What the starter is built from: the backbones to choose from, the views it is trained and served on
    (``network.ensemble.TEST_TIME_VIEWS``), and the bundle whose answers it learns beside the labels, if any."""

    members: Sequence[str] = ("efficientnet_lite1", "efficientnet_lite2")
    views: str = "four"
    teacher: Path | None = None


def ensemble_log_probs(fits: Sequence[MemberFit]) -> torch.Tensor:
    """Probability average over members and views, as log-probabilities."""
    return mean_log_probs(torch.cat([fit.val_log_probs for fit in fits]), 0)


def accuracy(log_probs: torch.Tensor, targets: torch.Tensor) -> dict:
    return t_interval((log_probs.argmax(1) == targets).float().numpy()).as_dict()


def best_combination(fits: Sequence[MemberFit], targets: torch.Tensor) -> list[MemberFit]:
    """The members (any non-empty subset) whose view-averaged ensemble is most accurate on validation."""
    subsets = [list(c) for r in range(1, len(fits) + 1) for c in itertools.combinations(fits, r)]
    return max(subsets, key=lambda s: (accuracy(ensemble_log_probs(s), targets)["estimate"], -len(s)))


def task_figures(fits: Sequence[MemberFit], targets: torch.Tensor, labels: Sequence[str]) -> dict:
    """Validation figures of every member alone and of the best ensemble, calibrated."""
    members = {fit.arch: {"accuracy": accuracy(fit.val_log_probs[0], targets),
                          "accuracy_views": accuracy(mean_log_probs(fit.val_log_probs, 0), targets),
                          "ece": expected_calibration_error(mean_log_probs(fit.val_log_probs, 0).exp(), targets),
                          "epochs": fit.epochs} for fit in fits}
    chosen = best_combination(fits, targets)
    log_probs = ensemble_log_probs(chosen)
    temperature = fit_temperature(log_probs, targets)
    calibrated = (log_probs / temperature).softmax(1)
    threshold = set_threshold(calibrated, targets, SET_COVERAGE)
    sets = category_sets(calibrated, threshold)
    return {"n": len(targets), "members": members, "chosen": [fit.arch for fit in chosen],
            "ensemble": {"accuracy": accuracy(log_probs, targets),
                         "ece_before": expected_calibration_error(log_probs.exp(), targets),
                         "ece_after": expected_calibration_error(calibrated, targets),
                         "temperature": temperature, "category_threshold": threshold,
                         "set_coverage": float(sets[torch.arange(len(targets)), targets].float().mean()),
                         "mean_set_size": float(sets.float().sum(1).mean())},
            "confusions": confusions(log_probs.argmax(1), targets, labels)}


def confusions(predicted: torch.Tensor, targets: torch.Tensor, labels: Sequence[str]) -> list[tuple[str, str, int]]:
    """(true, predicted, count) of every mistake pair, commonest first."""
    pairs = Counter((labels[int(t)], labels[int(p)]) for t, p in zip(targets, predicted, strict=True) if t != p)
    return [(a, b, n) for (a, b), n in pairs.most_common()]


def subset(maps: dict[str, torch.Tensor], split: LabelledPart, labels: Sequence[str]) -> tuple[dict, torch.Tensor]:
    """Trunk maps and remapped targets of the pictures whose label is in `labels`."""
    index = [split.labels.index(label) for label in labels]
    keep = torch.isin(split.targets, torch.tensor(index))
    remap = {old: new for new, old in enumerate(index)}
    return ({arch: m[keep] for arch, m in maps.items()},
            torch.tensor([remap[int(t)] for t in split.targets[keep]]))


@torch.no_grad()
def ms_per_picture(ensemble: Ensemble, batch: torch.Tensor, repeats: int = 3) -> float:
    """Median wall time of one forward pass (all its views) per picture."""
    ensemble(batch[:2])  # warm-up
    times = []
    for _ in range(repeats):
        begun = time.perf_counter()
        ensemble(batch)
        times.append((time.perf_counter() - begun) * 1000 / len(batch))
    return float(np.median(times))


THREE = ("dress", "longsleeve", "shirt")


@dataclass
class StarterRun:
    """A starter run's outcome: the served ensemble (chosen members, trained tails and heads), the fits of
    its members, the run's figures, and the split it learnt from and was chosen on."""

    served: Ensemble
    chosen: list[MemberFit]
    report: dict
    split: Split


def run_starter(data: Path, cache: Path, recipe: StarterRecipe, colour: ColourLabels | None = None) -> StarterRun:
    """Fine-tune last blocks and heads for ten classes and for dress/longsleeve/shirt on train (ten classes
    taught by the recipe's teacher too, if any), choose on validation; fit the colour model on `colour`'s
    labels; report."""
    started = time.perf_counter()
    split, labels = read_folder_split(data)
    train_split, val_split = (LabelledPart.of(split, part, labels) for part in ("train", "validation"))
    ensemble = Ensemble.build(list(recipe.members), len(labels), recipe.views).eval()
    train = trunk_maps(ensemble, train_split.samples, cache, TRAIN_MIRRORS[recipe.views])
    val = trunk_maps(ensemble, val_split.samples, cache, ensemble.mirrors)
    teacher = None if recipe.teacher is None else Teacher.read(recipe.teacher, train_split, cache)
    fits = fit_all(ensemble, train, train_split.targets, val, val_split.targets, teacher)
    three_train, three_train_targets = subset(train, train_split, THREE)
    three_val, three_val_targets = subset(val, val_split, THREE)
    report = {"ten": task_figures(fits, val_split.targets, train_split.labels), "labels": train_split.labels,
              "three": task_figures(fit_all(ensemble, three_train, three_train_targets, three_val,
                                            three_val_targets), three_val_targets, THREE)}
    chosen = [fit for fit in fits if fit.arch in report["ten"]["chosen"]]
    served = ensemble.chosen(report["ten"]["chosen"])
    for member, fit in zip(served.members, chosen, strict=True):
        member.tuned.load_state_dict(fit.tuned.state_dict())
        member.head.load_state_dict(fit.head.state_dict())
    report["garment"] = garment_figures(served, train, val)
    if colour is not None:
        splits = {"train": (train, train_split), "validation": (val, val_split)}
        report["colour_model"] = fit_colour_model(served, splits, data, colour)
    report["training"] = {"wall_seconds": time.perf_counter() - started, "load_average": os.getloadavg(),
                          "views": recipe.views, "members": list(recipe.members),
                          "teacher": None if recipe.teacher is None else read_bundle(recipe.teacher)[0].version,
                          "teacher_path": None if recipe.teacher is None else str(recipe.teacher),
                          "skipped": dict(split.skipped)}
    batch = torch.stack([eval_preset(ensemble.preprocessing)(decode_image(p)) for p in val_split.paths[:8]])
    report["ms_per_picture"] = {**{m.arch: ms_per_picture(ensemble.chosen([m.arch]), batch) for m in ensemble.members},
                                "ensemble": ms_per_picture(served, batch)}
    return StarterRun(served, chosen, report, split)


# TorchServe's settings for each recipe's views, by measurement (bench/serve_load.py, 2 cores): on ONNX Runtime two
# model threads and no batching served the four views fastest, 79.5 ms p50 at 1 client and 12.1 pictures/s at 8
# (one thread: 117.4 ms, 8.4/s); the one view in batches of 8 (1 ms delay), 36.7 ms p50 at 1 client and
# 42.1 pictures/s at 8, where batch 1 gave 35.9 ms and 36.3/s in the same run; on OpenVINO (float32, the same
# 341 of 341 right) 39.0 ms and 38.1/s where ONNX Runtime gave 41.0 ms and 29.2/s in the same run
STARTER_SERVING = {"four": ServingSettings(runtime="onnx", batch_size=1, threads=2),
                   "whole": ServingSettings(runtime="openvino", batch_size=8, max_batch_delay_ms=1, threads=2)}


def write_starter_bundle(run: StarterRun, out: Path) -> Path:
    """The bundle: tuned last blocks and heads only, backbones named by package and version, model card beside.
    The trained parts alone (4 MB; the ONNX model is 26 MB): serving exports the bundle where it is archived
    (network.export.exported_bundle)."""
    served, report = run.served, run.report
    ten = report["ten"]["ensemble"]
    info = BundleInfo(
        arch=ARCH, trainable="last", dropout=TuneSettings().dropout, tasks={"category": report["labels"]},
        preprocessing=served.preprocessing, backbone=backbone_record([m.arch for m in served.members], served.mirrors),
        metrics={"validation": {"ten": report["ten"], "three": report["three"], "garment": report["garment"]},
                 "training": report["training"]},
        calibration={"temperature": ten["temperature"], "ece_before": ten["ece_before"],
                     "ece_after": ten["ece_after"], "n": report["ten"]["n"], "split": "validation"},
        category_threshold=ten["category_threshold"], garment_threshold=report["garment"]["threshold"],
        colour_model=report["colour_model"].to_json() if "colour_model" in report else None,
        serving=STARTER_SERVING[report["training"]["views"]])
    write_trained_bundle(out, info, run.split, served.trained_state())
    (out / "MODEL_CARD.md").write_text(model_card(info, report, out), encoding="utf-8")
    return out


def _confusions(report: dict) -> str:
    return ", ".join(f"{a} taken for {b} ({n})" for a, b, n in report.get("confusions", [])[:5]) or "none recorded"


MODEL_CARD = Path(__file__).with_name("starter_card.md")  # the card's text, with $-placeholders


def model_card(info: BundleInfo, report: dict, out: Path) -> str:
    """The bundle's MODEL_CARD.md: MODEL_CARD filled with the run's figures."""
    ten, three, garment = report["ten"], report["three"], report["garment"]
    ensemble, taught_by = ten["ensemble"], report["training"].get("teacher")
    figures = {
        "categories": ", ".join(info.tasks["category"]), "members": ", ".join(info.backbone["members"]),
        "packages": ", ".join(f"{p['name']}=={p['version']}" for p in info.backbone["packages"]),
        "tuned_blocks": f"{TUNED_BLOCKS} block{'s' if TUNED_BLOCKS > 1 else ''}",
        "teacher": f"; taught by model {taught_by}'s answers on train too" if taught_by else "",
        "views": VIEW_WORDS[report["training"].get("views", "four")], "classes": len(info.tasks["category"]),
        "data_digest": info.data_digest, "ten_accuracy": interval_words(ensemble["accuracy"]),
        "three_accuracy": interval_words(three["ensemble"]["accuracy"]), "three_members": ", ".join(three["chosen"]),
        "temperature": f"{ensemble['temperature']:.3f}", "ece_bins": ECE_BINS, "n": ten["n"],
        "ece_before": f"{ensemble['ece_before']:.4f}", "ece_after": f"{ensemble['ece_after']:.4f}",
        "category_threshold": f"{ensemble['category_threshold']:.3f}",
        "set_coverage": f"{ensemble['set_coverage']:.4f}",
        "mean_set_size": f"{ensemble['mean_set_size']:.2f}", "colour": colour_card(report),
        "garment_threshold": f"{garment['threshold']:.3f}", "garment_quantile": f"{GARMENT_QUANTILE:.0%}",
        "garments_rejected": interval_words(garment["garments_rejected"]),
        "non_garments_rejected": interval_words(garment["non_garments_rejected"]),
        "wall_seconds": f"{report['training']['wall_seconds']:.0f}",
        "load_average": f"{report['training']['load_average'][0]:.2f}", "confusions": _confusions(ten),
        "retrain": retrain_command(report["training"], out)}
    return string.Template(MODEL_CARD.read_text(encoding="utf-8")).substitute(figures)


def retrain_command(training: dict, out: Path) -> str:
    """The command line that trained the bundle into `out`: the recipe's flags, clothing-small's usual place."""
    flags = [f"--members {','.join(training['members'])}"] if "members" in training else []
    if training.get("views", "four") != "four":
        flags.append(f"--views {training['views']}")
    if training.get("teacher_path"):
        flags.append(f"--teacher {training['teacher_path']}")
    return " ".join(["shoplens-train starter --data ../shared/datasets/clothing-small", *flags, f"--out {out}"])


def report_lines(report: dict) -> list[str]:
    """The run's figures, as the starter command and the benchmark print them (split: validation)."""
    lines = []
    views = report["training"].get("views", "four")
    every, first = VIEW_WORDS[views], first_view_words(views)
    for task, name in (("ten", "ten classes"), ("three", "dress/longsleeve/shirt")):
        figures = report[task]
        for arch, member in figures["members"].items():
            lines.append(f"{name}, {arch}: {first} alone accuracy {interval_words(member['accuracy'])}; over "
                         f"the {every.split(':')[0]} {interval_words(member['accuracy_views'])}; "
                         f"ECE {member['ece']:.4f} "
                         f"(epochs {member['epochs']})")
        ensemble = figures["ensemble"]
        lines.append(f"{name}, best ensemble {'+'.join(figures['chosen'])} (probability average over members and "
                     f"views): accuracy {interval_words(ensemble['accuracy'])}; "
                     f"ECE {ensemble['ece_before']:.4f} before, "
                     f"{ensemble['ece_after']:.4f} after temperature {ensemble['temperature']:.3f}; category sets "
                     f"at p >= {ensemble['category_threshold']:.3f} hold the true label for "
                     f"{ensemble['set_coverage']:.4f}, mean size {ensemble['mean_set_size']:.2f}")
    if "colour_model" in report:
        lines.append(colour_model_line(report["colour_model"].figures))
    garment = report["garment"]
    lines.append(f"not a garment (threshold {garment['threshold']:.3f} from train garments): validation garments "
                 f"rejected {interval_words(garment['garments_rejected'])}; non-garment pictures rejected "
                 f"{interval_words(garment['non_garments_rejected'])}; "
                 f"accepted: {', '.join(garment['non_garments_accepted']) or 'none'}")
    training = report["training"]
    skipped = training.get("skipped", {})
    lines.append("unusable pictures skipped: "
                 + (", ".join(f"{reason} {count}" for reason, count in sorted(skipped.items())) or "none"))
    lines.append(f"training wall time {training['wall_seconds']:.1f}s (trunk maps from cache where present; "
                 f"load average after it (1, 5, 15 min): {', '.join(f'{v:.2f}' for v in training['load_average'])})")
    lines.append(f"inference ms/picture (batch of 8, {every.split(':')[0]}, this machine under its current load): "
                 + ", ".join(f"{k} {v:.1f}" for k, v in report["ms_per_picture"].items()))
    return lines
