"""One training run from the command line's options: data, model, fit, evaluate, report, export.

Files written under ``--out``:
  split.json                  the split used (reused on the next run with the same --out)
  checkpoints/seed-<s>/       last.pt (resume) and best.pt for each repeat
  metrics.json                every figure, with sample sizes, splits and intervals
  comparison.md, .csv         this run as a row of the model-comparison table
  report/index.html           plots, per-class table, pictures to review
  bundle/                     the model: weights, TorchScript and ONNX exports (format: shoplens.bundle)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from network.export import export_models
from network.models import ShopLensNet, build_model, load_network
from shoplens import ShopLensError
from shoplens.bundle import BundleInfo, Preprocessing
from shoplens.stats import t_interval
from training import compare, noise, report
from training.bundle_writer import write_trained_bundle
from training.data import LabelSpace, PictureDataset, Sample
from training.engine import FitConfig, Predictions, Trainer, predict
from training.features import CachedViews, cache_key, stem_features
from training.feedback import with_feedback
from training.metrics import accuracy_text, evaluate_task
from training.presets import eval_preset, train_preset
from training.splits import Split, load_split, make_split, save_split
from training.utils import Distributed, atomic_write_text, init_distributed, seed_everything, shutdown_distributed


@dataclass(frozen=True)
class TrainOptions:
    """A run's configuration: the ``train`` command's options, by the same names (their defaults live in
    ``training.cli``, the one source of configuration)."""

    data: str | None
    scheme: str
    seed: int
    max_distance: int
    split: str | None
    categories: str | None
    no_colour: bool
    feedback: str | None
    out: str
    arch: str
    weights: str
    trainable: str | None
    dropout: float
    optimizer: str
    lr: float
    weight_decay: float
    label_smoothing: float
    epochs: int
    patience: int
    batch_size: int
    image_size: int | None
    augment_views: int
    repeats: int
    resume: bool
    device: str
    workers: int
    no_amp: bool
    feature_cache: str

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainOptions:
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


@dataclass
class RepeatResult:
    seed: int
    net: ShopLensNet
    preprocessing: Preprocessing
    history: list[dict[str, float]]
    predictions: dict[str, Predictions]  # by split name: train, validation, test


def obtain_split(options: TrainOptions, out: Path) -> tuple[Split, bool]:
    """--split FILE, else out/split.json from an earlier run, else a new split of --data.

    Returns the split (restricted to --categories) and whether it is new and unsaved.
    """
    path = Path(options.split) if options.split else out / "split.json"
    if path.is_file():
        split, new = load_split(path), False
    elif options.split:
        raise ShopLensError(f"split file {path} does not exist")
    elif not options.data:
        raise ShopLensError("give --data (a picture folder or manifest) or --split (a split file)")
    else:
        split, new = make_split(Path(options.data), options.scheme, options.seed, options.max_distance), True
    return split, new


def _preprocessing(base: Preprocessing, image_size: int | None) -> Preprocessing:
    if not image_size:
        return base
    return dataclasses.replace(base, image_size=image_size, resize=round(image_size * 256 / 224))


def _datasets(options: TrainOptions, net: ShopLensNet, pre: Preprocessing, parts: dict[str, list[Sample]],
              labels: LabelSpace, device: torch.device, seed: int) -> tuple[dict[str, Dataset], bool]:
    """Picture datasets, or cached stem outputs when the stem is frozen (net.cut > 0)."""
    if net.cut == 0:
        transforms = {"train": train_preset(pre)}
        return {name: PictureDataset(samples, labels, transforms.get(name, eval_preset(pre)))
                for name, samples in parts.items()}, False
    net.to(device)
    cache_dir = Path(options.feature_cache).expanduser() if options.feature_cache else None
    datasets = {}
    for name, samples in parts.items():
        views = 1 + (options.augment_views if name == "train" else 0)
        features = [stem_features(net, samples, train_preset(pre) if view else eval_preset(pre), device=device,
                                  key=cache_key(options.arch, options.weights, net.cut, pre, view, seed),
                                  cache_dir=cache_dir, batch_size=options.batch_size * 2, workers=options.workers,
                                  seed=seed + view, desc=f"{name} features, view {view + 1}/{views}")
                    for view in range(views)]
        targets = torch.tensor([labels.encode(s) for s in samples], dtype=torch.long)
        datasets[name] = CachedViews(features, targets)
    return datasets, True


def train_once(options: TrainOptions, seed: int, split: Split, labels: LabelSpace, out: Path,
               device: torch.device, dist_info: Distributed,
               built: tuple[ShopLensNet, Preprocessing] | None = None) -> RepeatResult:
    """One repeat; `built` is a model already made with this seed (the input check's)."""
    seed_everything(seed)
    net, base = built or build_model(options.arch, labels.tasks, options.weights, options.trainable, options.dropout)
    pre = _preprocessing(base, options.image_size)
    parts = {name: split.part(name) for name in ("train", "validation", "test") if split.part(name)}
    datasets, from_stem = _datasets(options, net, pre, parts, labels, device, seed)
    config = FitConfig(epochs=options.epochs, batch_size=options.batch_size, lr=options.lr, optimizer=options.optimizer,
                       weight_decay=options.weight_decay, label_smoothing=options.label_smoothing,
                       patience=options.patience, seed=seed, workers=options.workers,
                       amp=not options.no_amp, fingerprint=fingerprint(options, labels, seed))
    checkpoints = out / "checkpoints" / f"seed-{seed}"
    checkpoints.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(net, config, checkpoints, device, dist_info, from_stem)
    if options.resume and trainer.resume() and dist_info.is_main:
        print(f"resuming seed {seed} after epoch {trainer.start_epoch}")
    history = trainer.fit(datasets["train"], datasets["validation"])
    predictions = {name: predict(net, DataLoader(data, batch_size=options.batch_size * 2), device,
                                 from_stem=from_stem, amp=not options.no_amp, embeddings=True)
                   for name, data in datasets.items()}
    return RepeatResult(seed, net, pre, history, predictions)


def fingerprint(options: TrainOptions, labels: LabelSpace, seed: int) -> dict[str, Any]:
    """What a checkpoint must agree with to be resumed (the epoch count may grow)."""
    keys = ("arch", "weights", "trainable", "dropout", "optimizer", "lr", "weight_decay", "label_smoothing",
            "batch_size",
            "image_size", "augment_views")
    return {**{k: getattr(options, k) for k in keys}, "tasks": labels.tasks, "seed": seed}


def _evaluations(result: RepeatResult, labels: LabelSpace) -> dict[str, dict[str, Any]]:
    return {split: {task: evaluate_task(pred.probs[task], pred.targets[:, column], names, split)
                    for column, (task, names) in enumerate(labels.tasks.items())}
            for split, pred in result.predictions.items() if split != "train"}


def _accuracy(evaluations: dict[str, Any], split: str) -> float | None:
    return evaluations[split]["category"]["accuracy"]["estimate"] if split in evaluations else None


def write_report(out: Path, result: RepeatResult, evaluations: dict[str, Any], labels: LabelSpace,
                 split: Split, title: str) -> Path:
    directory = out / "report"
    directory.mkdir(parents=True, exist_ok=True)
    shown = "test" if "test" in evaluations else "validation"
    category = evaluations[shown]["category"]
    train_pred, shown_pred = result.predictions["train"], result.predictions[shown]
    plots = [report.plot_curves(result.history, directory / "curves.png"),
             report.plot_confusion(category, directory / "confusion.png"),
             report.plot_per_class(category, directory / "per_class.png"),
             report.plot_lda(train_pred.embeddings, train_pred.targets[:, 0], shown_pred.embeddings,
                             shown_pred.targets[:, 0], labels.tasks["category"], shown, directory / "lda.png")]
    suspects = noise.rank_suspects(train_pred.embeddings, train_pred.probs["category"], train_pred.targets[:, 0])
    review = noise.write_review(suspects, split.part("train"), labels.tasks["category"], directory)
    summary = [{"task": task, "split": name, "n": ev["n"], "accuracy": ev["accuracy"]["estimate"],
                "t 95% CI": f"[{ev['accuracy']['low']:.4f}, {ev['accuracy']['high']:.4f}]",
                "Wilson 95% CI": f"[{ev['accuracy_wilson']['low']:.4f}, {ev['accuracy_wilson']['high']:.4f}]",
                "top3": ev["top_k"].get("top3"), "top5": ev["top_k"].get("top5")}
               for name, tasks in evaluations.items() for task, ev in tasks.items()]
    per_class = {f"{task} ({shown})": ev["per_class"] for task, ev in evaluations[shown].items()}
    galleries = report.prediction_galleries([s.path for s in split.part(shown)], shown_pred.probs["category"],
                                            shown_pred.targets[:, 0], labels.tasks["category"], shown, directory)
    report.write_html(directory / "index.html", title, summary, plots, per_class,
                      [*galleries, noise.review_gallery(review)])
    return directory / "index.html"


def export_bundle(out: Path, options: TrainOptions, result: RepeatResult, labels: LabelSpace,
                  split: Split, metrics: dict[str, Any]) -> Path:
    info = BundleInfo(arch=options.arch, trainable=options.trainable, dropout=options.dropout, tasks=labels.tasks,
                      preprocessing=result.preprocessing, metrics=metrics)
    weights = out / "checkpoints" / f"seed-{result.seed}" / "best.pt"
    net = load_network(options.arch, labels.tasks, options.trainable, options.dropout, weights)
    return write_trained_bundle(out / "bundle", info, split, net.state_dict(),
                                lambda scratch: export_models(net, result.preprocessing, scratch))


def summarise(results: list[RepeatResult], labels: LabelSpace, split: Split, options: TrainOptions,
              seconds: float) -> dict[str, Any]:
    evaluations = [_evaluations(r, labels) for r in results]
    across = {}
    for name in ("validation", "test"):
        values = [_accuracy(e, name) for e in evaluations if name in e]
        if values:
            across[name] = {"accuracies": values, "interval": t_interval(values).as_dict()}
    return {
        "config": dataclasses.asdict(options),
        "split": {"scheme": split.scheme, "counts": split.counts(), "skipped": split.skipped, "leaks": split.leaks,
                  "max_distance": split.max_distance},
        "tasks": labels.tasks,
        "history": results[0].history,
        "evaluations": evaluations[0],
        "repeats": {"seeds": [r.seed for r in results], **across},
        "wall_seconds": seconds,
    }


def print_summary(metrics: dict[str, Any], out: Path) -> None:
    counts = metrics["split"]["counts"]
    skipped = metrics["split"]["skipped"]
    print(f"split {metrics['split']['scheme']}: {counts}; skipped {skipped or 'none'}")
    for split_name, tasks in metrics["evaluations"].items():
        for task, ev in tasks.items():
            print(f"{split_name} {task} {accuracy_text(ev)}")
    for split_name in ("validation", "test"):
        block = metrics["repeats"].get(split_name)
        if block and len(block["accuracies"]) > 1:
            print(f"{split_name} accuracy across {len(block['accuracies'])} runs: "
                  f"{t_interval(block['accuracies'])}")
    print(f"report {out / 'report' / 'index.html'}; bundle {out / 'bundle'}; "
          f"wall time {metrics['wall_seconds']:.1f}s")


def run(options: TrainOptions) -> dict[str, Any]:
    """The whole `train` command; returns the metrics it wrote."""
    started = time.perf_counter()
    if options.repeats < 1 or options.epochs < 1:
        raise ShopLensError("--repeats and --epochs must be at least 1")
    if options.weights not in ("imagenet", "none") and not Path(options.weights).is_file():
        raise ShopLensError(f"weights file {options.weights} does not exist")
    dist_info, device = init_distributed(options.device)
    try:
        out = Path(options.out)
        full_split, new = obtain_split(options, out)
        split = full_split.only(options.categories.split(",")) if options.categories else full_split
        if options.feedback:
            split, tally = with_feedback(split, options.feedback)
            print(tally, flush=True)
        if not split.part("train"):
            raise ShopLensError(f"the split has no training pictures: {split.counts()}")
        labels = LabelSpace.from_samples(split.samples, colour=not options.no_colour)
        if options.trainable is None:
            options = dataclasses.replace(options, trainable="all" if options.weights == "none" else "head")
        # Every input is checked (data, labels, weights) before the first file is written.
        seed_everything(options.seed)
        first = build_model(options.arch, labels.tasks, options.weights, options.trainable, options.dropout)
        if new and dist_info.is_main:
            save_split(full_split, out / "split.json")
        results = [train_once(options, options.seed + r, split, labels, out, device, dist_info,
                              first if r == 0 else None) for r in range(options.repeats)]
        metrics = summarise(results, labels, split, options, time.perf_counter() - started)
        if options.feedback:
            metrics["split"]["feedback"] = tally.as_dict()
        if dist_info.is_main:
            write_report(out, results[0], metrics["evaluations"], labels, split, f"ShopLens run: {options.arch}")
            headline = {name: {task: {"accuracy": ev["accuracy"], "n": ev["n"]} for task, ev in tasks.items()}
                        for name, tasks in metrics["evaluations"].items()}
            export_bundle(out, options, results[0], labels, split, headline)
            atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
            compare.write_table([compare.row(metrics)], out / "comparison")
            print_summary(metrics, out)
        return metrics
    finally:
        shutdown_distributed(dist_info)
