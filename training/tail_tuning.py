"""Fine-tuning an ensemble member's last blocks and a new head on cached trunk maps (the starter's fit).

A copy of the member's last TUNED_BLOCKS blocks and conv_head, with a new linear head, learns from its
frozen trunk's maps (``training.features.trunk_maps``), so an epoch costs small maps, never pictures; with
a teacher bundle (distillation) it learns that bundle's softened answers beside the labels, and starts from
the teacher's own tail and head. The epoch kept is the one with the best validation accuracy over the views.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from network.ensemble import Ensemble, Member, mean_log_probs
from shoplens import ShopLensError
from shoplens.bundle import read_bundle
from shoplens.imaging import decode_image
from shoplens.preprocessing import eval_batch
from training.engine import FitConfig, make_optimizer
from training.splits import LabelledPart
from training.utils import atomic_save


def teacher_log_probs(teacher: Path, split: LabelledPart, cache: Path, batch_size: int = 16) -> torch.Tensor:
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


# The fit's epochs, batch, optimiser (AdamW, one-cycle schedule), rate, decay and smoothing, in the fields every
# training run is configured by (training.engine.FitConfig); chosen on validation
TAIL_FIT = FitConfig(epochs=6, batch_size=64, lr=1e-3, optimizer="adamw", weight_decay=0.05, label_smoothing=0.1)


@dataclass(frozen=True)
class TuneSettings:
    """How a member's last blocks and head are fine-tuned on cached trunk maps (chosen on validation): the fit,
    and what only this fit has."""

    fit: FitConfig = field(default_factory=lambda: TAIL_FIT)
    block_lr_scale: float = 0.3  # the copied ImageNet blocks learn at fit.lr * block_lr_scale, the new head at fit.lr
    dropout: float = 0.2
    # with a teacher: the loss is (1 - weight) * cross-entropy + weight * T^2 * KL(teacher || student) at
    # temperature T (Hinton et al., 2015); chosen on validation for the one-view starter (n=341): from
    # ImageNet's tail at lr 1e-3, 0.7 and 2 gave 0.9091, 0.9 and 4 gave 0.9120; from the teacher's tail at
    # lr 3e-4, 0.9 and 4 gave 0.9179, the labels alone 0.9150
    distil_weight: float = 0.9
    distil_temperature: float = 4.0


# A student starts from its teacher's trained tail and head: a gentler rate keeps what they know (figures
# above).
TAUGHT = TuneSettings(fit=dataclasses.replace(TAIL_FIT, lr=3e-4))


@dataclass(frozen=True)
class Teacher:
    """A trained bundle a starter learns from: its answers on the train pictures ((pictures, classes)
    log-probabilities), and its members' trained tails and heads, where a student member starts."""

    log_probs: torch.Tensor
    members: dict[str, Member]

    @classmethod
    def read(cls, bundle: Path, split: LabelledPart, cache: Path) -> Teacher:
        from network.models import load_bundle_model

        net, _ = load_bundle_model(bundle)
        return cls(teacher_log_probs(bundle, split, cache), {m.arch: m for m in net.members})


def distillation_loss(logits: torch.Tensor, targets: torch.Tensor, teacher: torch.Tensor | None,
                      settings: TuneSettings) -> torch.Tensor:
    """Cross-entropy on the labels, mixed with the teacher's softened probabilities where there is one."""
    hard = F.cross_entropy(logits, targets, label_smoothing=settings.fit.label_smoothing)
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
    fit = settings.fit
    optimizer = make_optimizer(fit.optimizer, [{"params": tuned.parameters(), "lr": fit.lr * settings.block_lr_scale},
                                               {"params": head.parameters()}], fit.lr, fit.weight_decay)
    steps = -(-len(train_targets) // fit.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=[fit.lr * settings.block_lr_scale, fit.lr],
        total_steps=fit.epochs * steps, pct_start=0.15)
    best: tuple[tuple[float, float], MemberFit] | None = None
    for epoch in range(1, fit.epochs + 1):
        tuned.train()
        views = torch.randint(train.shape[1], (len(train_targets),))
        for batch in torch.randperm(len(train_targets)).split(fit.batch_size):
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
        print(f"{member.arch}, {len(val_targets)} validation pictures, epoch {epoch}/{fit.epochs}: "
              f"accuracy {score[0]:.4f}, log-likelihood {score[1]:.4f}", flush=True)
        if best is None or score > best[0]:
            best = score, MemberFit(member.arch, copy.deepcopy(tuned).requires_grad_(False),
                                    copy.deepcopy(head).requires_grad_(False), epoch, log_probs)
    return best[1]


def fit_all(ensemble: Ensemble, train: dict, train_targets: torch.Tensor, val: dict,
            val_targets: torch.Tensor, teacher: Teacher | None = None) -> list[MemberFit]:
    return [fine_tune(m, train[m.arch], train_targets, val[m.arch], val_targets, teacher) for m in ensemble.members]
