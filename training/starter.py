"""The starter model: EfficientNet-Lite backbones whose last blocks are fine-tuned on cached trunk maps.

Pictures are decoded once; each member's frozen trunk maps (the feature map entering its last
TUNED_BLOCKS blocks) of both views of train pictures (centre crop, whole picture), and of validation
pictures' views and their mirror images, are cached on disk (one file per split, member and view),
so fine-tuning a copy of the last blocks with a new head, choosing epochs, members, the temperature
and thresholds runs on small maps, never on pictures again. The garment gate's threshold comes from
the frozen tails on the same maps.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import os
import random
import string
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from network.ensemble import (
    ARCH,
    TUNED_BLOCKS,
    Ensemble,
    Member,
    backbone_record,
    first_view_words,
    garment_score,
    mean_log_probs,
)
from shoplens import ShopLensError
from shoplens.bundle import BundleInfo, ServingSettings, read_bundle, write_bundle
from shoplens.imaging import decode_image
from shoplens.manifest import digest
from shoplens.preprocessing import eval_batch
from shoplens.sample import NON_GARMENTS, draw_non_garment
from shoplens.stats import t_interval
from training.calibration import ECE_BINS, category_sets, expected_calibration_error, fit_temperature, set_threshold
from training.colour_fit import ColourLabels, colour_card, colour_model_line, fit_colour_model
from training.data import LabelSpace, scan
from training.metrics import interval_words
from training.presets import eval_preset
from training.utils import atomic_save


@dataclass(frozen=True)
class CategoryFolders:
    """The usable pictures of one folder split, ROOT/<split>/<category>/, as ``shoplens-train`` reads a folder
    tree (``training.data.scan``: every file decoded once, the unusable counted by reason in `skipped`), in
    label order then file name."""

    paths: list[Path]
    targets: torch.Tensor
    labels: list[str]
    skipped: Counter[str]

    @classmethod
    def read(cls, root: Path, labels: Sequence[str] | None = None) -> CategoryFolders:
        found = scan(root)
        labels = list(labels or LabelSpace.from_samples(found.samples, colour=False).tasks["category"])
        kept = sorted((s for s in found.samples if s.category in labels), key=lambda s: labels.index(s.category))
        return cls([s.path for s in kept], torch.tensor([labels.index(s.category) for s in kept]), labels,
                   found.skipped)

    def digest(self) -> str:
        return hashlib.sha256("\n".join(map(str, self.paths)).encode()).hexdigest()[:16]


class _Pictures(Dataset):
    def __init__(self, paths: list[Path], transform: object) -> None:
        self.paths, self.transform = paths, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.transform(decode_image(self.paths[index]))


@torch.no_grad()
def extract(ensemble: Ensemble, paths: list[Path], cache: Path, name: str, mirrors: bool,
            batch_size: int = 32) -> dict[str, torch.Tensor]:
    """{arch: (pictures, views, channels, height, width)}: every member's frozen trunk maps (float16) of each
    view of the ensemble's preprocessing (the centre crop, then the whole picture; or the whole picture alone),
    each followed by its mirror image with `mirrors`. One file per member and view kind; one pass over the
    pictures for those not cached yet."""
    per_kind, kinds = 2 if mirrors else 1, ensemble.preprocessing.views
    size = ensemble.preprocessing.image_size
    files = {(m.arch, kind): cache / f"{name}-{m.arch}-trunk{TUNED_BLOCKS}-{kind}{size}-{per_kind}v.pt"
             for m in ensemble.members for kind in kinds}
    missing = [(m, k) for m in ensemble.members for k, kind in enumerate(kinds) if not files[m.arch, kind].is_file()]
    if missing:
        loader = DataLoader(_Pictures(paths, eval_preset(ensemble.preprocessing)), batch_size=batch_size)
        parts: dict[tuple[str, str], list[torch.Tensor]] = {(m.arch, kinds[k]): [] for m, k in missing}
        for batch in tqdm(loader, desc=f"trunk maps {name}", unit="batch", mininterval=30):
            batch = batch.unsqueeze(1) if batch.dim() == 4 else batch  # one view: (N, 3, S, S)
            for member, k in missing:
                pictures = torch.cat([batch[:, k], batch[:, k].flip(-1)][:per_kind])
                maps = member.trunk(pictures).half().unflatten(0, (per_kind, len(batch))).transpose(0, 1)
                parts[member.arch, kinds[k]].append(maps.contiguous())
        cache.mkdir(parents=True, exist_ok=True)
        for key, maps in parts.items():
            atomic_save(torch.cat(maps), files[key])
    return {m.arch: torch.cat([torch.load(files[m.arch, kind], weights_only=True) for kind in kinds], dim=1)
            for m in ensemble.members}


def split_maps(ensemble: Ensemble, split: CategoryFolders, cache: Path, name: str,
               mirrors: bool) -> dict[str, torch.Tensor]:
    """{arch: (pictures, views, channels, height, width)} trunk maps of a split's pictures (see `extract`)."""
    return extract(ensemble, split.paths, cache, f"{name}-{split.digest()}", mirrors)


def teacher_log_probs(teacher: Path, split: CategoryFolders, cache: Path, batch_size: int = 16) -> torch.Tensor:
    """(pictures, classes): the category log-probabilities (temperature 1) a bundle's exported model gives a
    split's pictures, in the split's label order; cached per bundle version and split."""
    from network.export import bundle_predictor

    info = read_bundle(teacher)[0]
    if info.tasks["category"] != split.labels:
        raise ShopLensError(f"the teacher {teacher} labels {info.tasks['category']}, the data {split.labels}")
    path = cache / f"teacher-{info.version}-{split.digest()}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    predict = bundle_predictor(teacher, "onnx")
    parts = [predict(eval_batch([decode_image(p) for p in split.paths[start:start + batch_size]],
                                info.preprocessing))["category"] for start in range(0, len(split.paths), batch_size)]
    log_probs = torch.from_numpy(np.concatenate(parts)).float()
    cache.mkdir(parents=True, exist_ok=True)
    atomic_save(log_probs, path)
    return log_probs


# --- fitting on cached features ---------------------------------------------------------

@dataclass(frozen=True)
class TuneSettings:
    """How a member's last blocks and head are fine-tuned on cached trunk maps (chosen on validation)."""

    epochs: int = 6
    lr: float = 1e-3  # AdamW, one-cycle schedule; the copied ImageNet blocks take lr * BLOCK_LR_SCALE
    block_lr_scale: float = 0.3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    dropout: float = 0.2
    batch_size: int = 64
    # with a teacher: the loss is (1 - weight) * cross-entropy + weight * T^2 * KL(teacher || student) at
    # temperature T (Hinton et al., 2015); chosen on validation for the one-view starter (n=341): from
    # ImageNet's tail at lr 1e-3, 0.7 and 2 gave 0.9091, 0.9 and 4 gave 0.9120; from the teacher's tail at
    # lr 3e-4, 0.9 and 4 gave 0.9179, the labels alone 0.9150
    distil_weight: float = 0.9
    distil_temperature: float = 4.0


# A student starts from its teacher's trained tail and head: a gentler rate keeps what they know (figures
# above).
TAUGHT = TuneSettings(lr=3e-4)


@dataclass(frozen=True)
class Teacher:
    """A trained bundle a starter learns from: its answers on the train pictures ((pictures, classes)
    log-probabilities), and its members' trained tails and heads, where a student member starts."""

    log_probs: torch.Tensor
    members: dict[str, Member]

    @classmethod
    def read(cls, bundle: Path, split: CategoryFolders, cache: Path) -> Teacher:
        from network.models import load_bundle_model

        net, _ = load_bundle_model(bundle)
        return cls(teacher_log_probs(bundle, split, cache), {m.arch: m for m in net.members})


def distillation_loss(logits: torch.Tensor, targets: torch.Tensor, teacher: torch.Tensor | None,
                      settings: TuneSettings) -> torch.Tensor:
    """Cross-entropy on the labels, mixed with the teacher's softened probabilities where there is one."""
    hard = F.cross_entropy(logits, targets, label_smoothing=settings.label_smoothing)
    if teacher is None:
        return hard
    t = settings.distil_temperature
    soft = F.kl_div((logits / t).log_softmax(1), (teacher / t).log_softmax(1), log_target=True,
                    reduction="batchmean") * t * t
    return (1 - settings.distil_weight) * hard + settings.distil_weight * soft


def _pooled(tuned: nn.Module, maps: torch.Tensor) -> torch.Tensor:
    return tuned(maps.float()).mean((2, 3))


@torch.no_grad()
def tail_log_probs(tuned: nn.Module, head: nn.Linear, maps: torch.Tensor, chunk: int = 128) -> torch.Tensor:
    """(views, pictures, classes) log-probabilities of trunk maps (pictures, views, ...)."""
    tuned.eval()
    logits = torch.cat([head(_pooled(tuned, part.flatten(0, 1))).unflatten(0, part.shape[:2])
                        for part in maps.split(chunk)])
    return logits.transpose(0, 1).log_softmax(-1)


@dataclass
class MemberFit:
    arch: str
    tuned: nn.Module
    head: nn.Linear
    epochs: int
    val_log_probs: torch.Tensor  # (views, pictures, classes)


def fine_tune(member: Member, train: torch.Tensor, train_targets: torch.Tensor, val: torch.Tensor,
              val_targets: torch.Tensor, teacher: Teacher | None = None) -> MemberFit:
    """A copy of the member's last blocks and conv_head plus a new head, trained on cached trunk maps (one
    random view of each picture an epoch), on the labels and, with a teacher, on its answers too, starting
    from its own member's tail and head where it has one; the epoch with the best validation accuracy (then
    likelihood)."""
    torch.manual_seed(0)
    start = teacher.members.get(member.arch) if teacher else None
    settings, teacher_log_probs = (TAUGHT, teacher.log_probs) if teacher else (TuneSettings(), None)
    tuned = copy.deepcopy(start.tuned if start else member.frozen_tail).requires_grad_(True)
    head = copy.deepcopy(start.head).requires_grad_(True) if start else nn.Linear(
        member.backbone.num_features, int(train_targets.max()) + 1)
    optimizer = torch.optim.AdamW([{"params": tuned.parameters(), "lr": settings.lr * settings.block_lr_scale},
                                   {"params": head.parameters()}], lr=settings.lr, weight_decay=settings.weight_decay)
    steps = -(-len(train_targets) // settings.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[settings.lr * settings.block_lr_scale, settings.lr],
        total_steps=settings.epochs * steps, pct_start=0.15)
    best: tuple[tuple[float, float], MemberFit] | None = None
    for epoch in range(1, settings.epochs + 1):
        tuned.train()
        views = torch.randint(train.shape[1], (len(train_targets),))
        for batch in torch.randperm(len(train_targets)).split(settings.batch_size):
            features = F.dropout(_pooled(tuned, train[batch, views[batch]]), settings.dropout, training=True)
            loss = distillation_loss(head(features), train_targets[batch],
                                     None if teacher_log_probs is None else teacher_log_probs[batch], settings)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        log_probs = tail_log_probs(tuned, head, val)
        averaged = mean_log_probs(log_probs, 0)
        score = (float((averaged.argmax(1) == val_targets).float().mean()),
                 -float(F.nll_loss(averaged, val_targets)))
        print(f"{member.arch}, {len(val_targets)} validation pictures, epoch {epoch}/{settings.epochs}: "
              f"accuracy {score[0]:.4f}, log-likelihood {score[1]:.4f}", flush=True)
        if best is None or score > best[0]:
            best = score, MemberFit(member.arch, copy.deepcopy(tuned).requires_grad_(False),
                                    copy.deepcopy(head).requires_grad_(False), epoch, log_probs)
    return best[1]


# --- evaluation pictures that are no garment ----------------------------------------------

SKIMAGE_PHOTOGRAPHS = ("astronaut", "brick", "camera", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
                       "hubble_deep_field", "immunohistochemistry", "moon", "page", "rocket", "retina", "cell")


def non_garment_pictures(drawn_per_kind: int = 10) -> list[tuple[str, Image.Image]]:
    """Real photographs that ship with scikit-image and scikit-learn, and drawn banners, logos, icons."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    pictures = [(f"skimage.{name}", Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
                for name in SKIMAGE_PHOTOGRAPHS]
    pictures.append(("skimage.stereo_motorcycle", Image.fromarray(skimage.data.stereo_motorcycle()[0])))
    samples = load_sample_images()
    pictures += [(f"sklearn.{Path(name).stem}", Image.fromarray(image))
                 for name, image in zip(samples.filenames, samples.images, strict=True)]
    rng = random.Random(14)
    pictures += [(f"drawn.{kind}.{i}", draw_non_garment(kind, rng=rng))
                 for kind in NON_GARMENTS for i in range(drawn_per_kind)]
    return pictures


# --- the whole run ------------------------------------------------------------------------

SET_COVERAGE = 0.97  # validation pictures whose true category the answer's category set must hold
GARMENT_QUANTILE = 0.02  # train garments allowed below the garment threshold
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


def subset(maps: dict[str, torch.Tensor], split: CategoryFolders, labels: Sequence[str]) -> tuple[dict, torch.Tensor]:
    """Trunk maps and remapped targets of the pictures whose label is in `labels`."""
    index = [split.labels.index(label) for label in labels]
    keep = torch.isin(split.targets, torch.tensor(index))
    remap = {old: new for new, old in enumerate(index)}
    return ({arch: m[keep] for arch, m in maps.items()},
            torch.tensor([remap[int(t)] for t in split.targets[keep]]))


def fit_all(ensemble: Ensemble, train: dict, train_targets: torch.Tensor, val: dict,
            val_targets: torch.Tensor, teacher: Teacher | None = None) -> list[MemberFit]:
    return [fine_tune(m, train[m.arch], train_targets, val[m.arch], val_targets, teacher) for m in ensemble.members]


@torch.no_grad()
def garment_scores(ensemble: Ensemble, maps: dict[str, torch.Tensor], chunk: int = 128) -> torch.Tensor:
    """The ensemble's garment score from cached trunk maps, through the frozen tails: mean over members
    and views."""
    def member_scores(member: Member, part: torch.Tensor) -> torch.Tensor:
        frozen = member.frozen_features(member.frozen_map(part.flatten(0, 1).float()))
        return garment_score(member.imagenet_logits(frozen)).unflatten(0, part.shape[:2]).mean(1)

    return torch.stack([torch.cat([member_scores(m, part) for part in maps[m.arch].split(chunk)])
                        for m in ensemble.members]).mean(0)


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


def run_starter(data: Path, cache: Path, recipe: StarterRecipe,
                colour: ColourLabels | None = None) -> tuple[Ensemble, list[MemberFit], dict]:
    """Fine-tune last blocks and heads for ten classes and for dress/longsleeve/shirt on train (ten classes
    taught by the recipe's teacher too, if any), choose on validation; fit the colour model on `colour`'s
    labels; report."""
    started = time.perf_counter()
    train_split, val_split = CategoryFolders.read(data / "train"), CategoryFolders.read(data / "validation")
    ensemble = Ensemble.build(list(recipe.members), len(train_split.labels), recipe.views).eval()
    train = split_maps(ensemble, train_split, cache, "train", TRAIN_MIRRORS[recipe.views])
    val = split_maps(ensemble, val_split, cache, "validation", ensemble.mirrors)
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
                          "skipped": {"train": dict(train_split.skipped), "validation": dict(val_split.skipped)}}
    batch = torch.stack([eval_preset(ensemble.preprocessing)(decode_image(p)) for p in val_split.paths[:8]])
    report["ms_per_picture"] = {**{m.arch: ms_per_picture(ensemble.chosen([m.arch]), batch) for m in ensemble.members},
                                "ensemble": ms_per_picture(served, batch)}
    return served, chosen, report


def garment_figures(served: Ensemble, train: dict, val: dict) -> dict:
    """Threshold from train garments; rejection rates on validation garments and on non-garments."""
    threshold = float(torch.quantile(garment_scores(served, train), GARMENT_QUANTILE))
    val_rejected = (garment_scores(served, val) < threshold).float().numpy()
    pictures = non_garment_pictures()
    transform = eval_preset(served.preprocessing)
    with torch.no_grad():
        scores = torch.cat([served(transform(image)[None])["garment"] for _, image in pictures])
    rejected = (scores < threshold).float().numpy()
    kept = [name for (name, _), r in zip(pictures, rejected, strict=True) if not r]
    return {"threshold": threshold, "garments_rejected": t_interval(val_rejected).as_dict(),
            "non_garments_rejected": t_interval(rejected).as_dict(), "non_garments_accepted": kept}


# TorchServe's settings for each recipe's views, by measurement (bench/serve_load.py, 2 cores): on ONNX Runtime two
# model threads and no batching served the four views fastest, 79.5 ms p50 at 1 client and 12.1 pictures/s at 8
# (one thread: 117.4 ms, 8.4/s); the one view in batches of 8 (1 ms delay), 36.7 ms p50 at 1 client and
# 42.1 pictures/s at 8, where batch 1 gave 35.9 ms and 36.3/s in the same run; on OpenVINO (float32, the same
# 341 of 341 right) 39.0 ms and 38.1/s where ONNX Runtime gave 41.0 ms and 29.2/s in the same run
STARTER_SERVING = {"four": ServingSettings(runtime="onnx", batch_size=1, threads=2),
                   "whole": ServingSettings(runtime="openvino", batch_size=8, max_batch_delay_ms=1, threads=2)}


def write_starter_bundle(served: Ensemble, report: dict, data: Path, out: Path) -> Path:
    """The bundle: tuned last blocks and heads only, backbones named by package and version, model card beside."""
    now = datetime.now(UTC)
    ten = report["ten"]["ensemble"]
    archs = [m.arch for m in served.members]
    train_split = CategoryFolders.read(data / "train")
    info = BundleInfo(
        arch=ARCH, trainable="last", dropout=TuneSettings().dropout, tasks={"category": report["labels"]},
        preprocessing=served.preprocessing, backbone=backbone_record(archs, served.mirrors),
        metrics={"validation": {"ten": report["ten"], "three": report["three"], "garment": report["garment"]},
                 "training": report["training"]},
        data_digest=digest((str(p.relative_to(data)), train_split.labels[int(t)])
                           for p, t in zip(train_split.paths, train_split.targets, strict=True)),
        version=now.strftime("%Y%m%d%H%M%S"), created=now.isoformat(timespec="seconds"),
        calibration={"temperature": ten["temperature"], "ece_before": ten["ece_before"],
                     "ece_after": ten["ece_after"], "n": report["ten"]["n"], "split": "validation"},
        category_threshold=ten["category_threshold"], garment_threshold=report["garment"]["threshold"],
        colour_model=report["colour_model"].to_json() if "colour_model" in report else None,
        serving=STARTER_SERVING[report["training"]["views"]])
    with tempfile.TemporaryDirectory() as scratch:
        weights = Path(scratch) / "weights.pt"
        torch.save(served.trained_state(), weights)
        # The trained parts alone (4 MB; the ONNX model is 26 MB): serving exports the bundle where it is
        # archived (network.export.exported_bundle).
        write_bundle(out, info, weights, {})
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
    skipped = {split: ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items())) or "none"
               for split, reasons in training.get("skipped", {}).items()}
    if skipped:
        lines.append("unusable pictures skipped: " + "; ".join(f"{split} {words}" for split, words in skipped.items()))
    lines.append(f"training wall time {training['wall_seconds']:.1f}s (trunk maps from cache where present; "
                 f"load average after it (1, 5, 15 min): {', '.join(f'{v:.2f}' for v in training['load_average'])})")
    lines.append(f"inference ms/picture (batch of 8, {every.split(':')[0]}, this machine under its current load): "
                 + ", ".join(f"{k} {v:.1f}" for k, v in report["ms_per_picture"].items()))
    return lines
