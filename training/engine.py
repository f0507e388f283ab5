"""The training loop: epochs, validation, early stopping, checkpoints and resume."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from network.models import ShopLensNet
from shoplens import ShopLensError
from training.data import IGNORE
from training.utils import Distributed, atomic_save, to_device


@dataclass
class FitConfig:
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-4
    optimizer: str = "rmsprop"
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    patience: int = 5
    lr_patience: int = 2
    lr_factor: float = 0.3
    seed: int = 0
    workers: int = 0
    amp: bool = True
    fingerprint: dict[str, Any] = field(default_factory=dict)


class FromStem(nn.Module):
    """Runs a ShopLensNet from cached stem outputs; a module of its own so DDP can wrap it."""

    def __init__(self, net: ShopLensNet) -> None:
        super().__init__()
        self.net = net

    def forward(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.net.forward_from_stem(z)


OPTIMIZERS = ("rmsprop", "adam", "adamw", "sgd")


def make_optimizer(name: str, params: list, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """The optimiser `name` over `params` (parameters, or parameter groups with their own rates)."""
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    raise ShopLensError(f"unknown optimiser {name!r}: choose one of {', '.join(OPTIMIZERS)}")


def task_loss(outputs: dict[str, torch.Tensor], targets: torch.Tensor,
              label_smoothing: float = 0.0) -> torch.Tensor:
    """Sum over tasks of the mean cross-entropy over pictures labelled for that task."""
    total = torch.zeros((), device=targets.device)
    for column, logits in enumerate(outputs.values()):
        target = targets[:, column]
        total = total + F.cross_entropy(logits.float(), target, ignore_index=IGNORE, reduction="sum",
                                        label_smoothing=label_smoothing) \
            / (target != IGNORE).sum().clamp(min=1)
    return total


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager:
    if device.type != "cuda" or not enabled:
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)


@dataclass
class Predictions:
    """Per-task class probabilities and targets, plus the embeddings when asked for."""

    probs: dict[str, np.ndarray]
    targets: np.ndarray
    loss: float
    embeddings: np.ndarray | None = None


@torch.no_grad()
def predict(net: ShopLensNet, loader: DataLoader, device: torch.device, *, from_stem: bool,
            amp: bool = True, embeddings: bool = False) -> Predictions:
    net.eval()
    probs: dict[str, list[torch.Tensor]] = {task: [] for task in net.heads}
    targets, embeds, loss_sum, count = [], [], 0.0, 0
    for inputs, target in loader:
        inputs, target = to_device(inputs, device), target.to(device)
        with _autocast(device, amp):
            z = inputs if from_stem else net.stem(inputs)
            embedding = net.embed_from_stem(z)
            outputs = {task: head(embedding) for task, head in net.heads.items()}
        loss_sum += float(task_loss(outputs, target)) * len(target)
        count += len(target)
        for task, logits in outputs.items():
            probs[task].append(logits.float().softmax(1).cpu())
        targets.append(target.cpu())
        if embeddings:
            embeds.append(embedding.float().cpu())
    return Predictions({t: torch.cat(p).numpy() for t, p in probs.items()}, torch.cat(targets).numpy(),
                       loss_sum / max(count, 1), torch.cat(embeds).numpy() if embeddings else None)


def primary_accuracy(pred: Predictions) -> float:
    labelled = pred.targets[:, 0] != IGNORE
    first = next(iter(pred.probs.values()))
    return float((first.argmax(1)[labelled] == pred.targets[labelled, 0]).mean()) if labelled.any() else float("nan")


class Trainer:
    """Fits `net` on train data, choosing the epoch with the lowest validation loss.

    Files in `out_dir`: last.pt (everything needed to resume) after every epoch and
    best.pt (weights of the best epoch so far). Each epoch reseeds from (seed, epoch),
    so a resumed run repeats exactly what an uninterrupted one would have done.
    """

    def __init__(self, net: ShopLensNet, cfg: FitConfig, out_dir: Path, device: torch.device,
                 dist_info: Distributed, from_stem: bool) -> None:
        self.net = net.to(device, memory_format=torch.channels_last)
        self.cfg, self.out_dir, self.device = cfg, out_dir, device
        self.dist, self.from_stem = dist_info, from_stem
        params = [p for p in self.net.parameters() if p.requires_grad]
        self.optimizer = make_optimizer(cfg.optimizer, params, cfg.lr, cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, factor=cfg.lr_factor, patience=cfg.lr_patience)
        self.scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and cfg.amp
                                           and not torch.cuda.is_bf16_supported())
        module = FromStem(self.net) if from_stem else self.net
        self.model = DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None) \
            if dist_info.enabled else module
        self.history: list[dict[str, float]] = []
        self.best_loss, self.bad_epochs, self.start_epoch = float("inf"), 0, 0

    # -- checkpoints --
    def _state(self) -> dict[str, Any]:
        return {"model": self.net.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(),
                "history": self.history, "best_loss": self.best_loss, "bad_epochs": self.bad_epochs,
                "fingerprint": self.cfg.fingerprint}

    def resume(self) -> bool:
        """Continue from out_dir/last.pt if it exists; True if it did."""
        path = self.out_dir / "last.pt"
        if not path.is_file():
            return False
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ShopLensError(f"checkpoint {path} is unreadable: {exc}") from None
        if state.get("fingerprint") != self.cfg.fingerprint:
            raise ShopLensError(f"checkpoint {path} belongs to a different configuration; "
                                f"use a new --out or drop --resume")
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.history, self.best_loss, self.bad_epochs = state["history"], state["best_loss"], state["bad_epochs"]
        self.start_epoch = len(self.history)
        return True

    def _save(self, improved: bool) -> None:
        if not self.dist.is_main:
            return
        atomic_save(self._state(), self.out_dir / "last.pt")
        if improved:
            atomic_save(self.net.state_dict(), self.out_dir / "best.pt")

    # -- loop --
    def _loader(self, data: Dataset, epoch: int, shuffle: bool) -> DataLoader:
        if hasattr(data, "set_epoch"):
            data.set_epoch(self.cfg.seed * 10_007 + epoch)
        generator = torch.Generator().manual_seed(self.cfg.seed * 10_007 + epoch)
        sampler = None
        if self.dist.enabled and shuffle:
            sampler = DistributedSampler(data, shuffle=True, seed=self.cfg.seed)
            sampler.set_epoch(epoch)
        return DataLoader(data, batch_size=self.cfg.batch_size, shuffle=shuffle and sampler is None,
                          sampler=sampler, num_workers=0 if self.from_stem else self.cfg.workers,
                          generator=generator, pin_memory=self.device.type == "cuda")

    def _train_epoch(self, data: Dataset, epoch: int) -> tuple[float, float]:
        torch.manual_seed(self.cfg.seed * 10_007 + epoch)
        self.model.train()
        loss_sum, correct, seen = 0.0, 0, 0
        bar = tqdm(self._loader(data, epoch, shuffle=True), desc=f"epoch {epoch + 1}/{self.cfg.epochs}",
                   unit="batch", leave=False, disable=None if self.dist.is_main else True)
        for inputs, target in bar:
            inputs, target = to_device(inputs, self.device), target.to(self.device)
            with _autocast(self.device, self.cfg.amp):
                outputs = self.model(inputs)
                loss = task_loss(outputs, target, self.cfg.label_smoothing)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            labelled = target[:, 0] != IGNORE
            first = next(iter(outputs.values()))
            correct += int((first.argmax(1) == target[:, 0])[labelled].sum())
            seen += int(labelled.sum())
            loss_sum += float(loss.detach()) * len(target)
            bar.set_postfix(loss=f"{loss_sum / max(seen, 1):.3f}", acc=f"{correct / max(seen, 1):.3f}")
        return loss_sum / max(seen, 1), correct / max(seen, 1)

    def fit(self, train_data: Dataset, val_data: Dataset, log: Any = print) -> list[dict[str, float]]:
        for epoch in range(self.start_epoch, self.cfg.epochs):
            if self.bad_epochs >= self.cfg.patience:
                break
            started = time.perf_counter()
            train_loss, train_acc = self._train_epoch(train_data, epoch)
            val = predict(self.net, self._loader(val_data, epoch, shuffle=False), self.device,
                          from_stem=self.from_stem, amp=self.cfg.amp)
            improved = val.loss < self.best_loss
            self.best_loss, self.bad_epochs = (val.loss, 0) if improved else (self.best_loss, self.bad_epochs + 1)
            self.scheduler.step(val.loss)
            row = {"epoch": epoch + 1, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val.loss,
                   "val_acc": primary_accuracy(val), "lr": self.optimizer.param_groups[0]["lr"],
                   "seconds": time.perf_counter() - started}
            self.history.append(row)
            self._save(improved)
            if self.dist.is_main:
                log(f"epoch {row['epoch']:3d}  train loss {train_loss:.4f} acc {train_acc:.3f}  "
                    f"val loss {val.loss:.4f} acc {row['val_acc']:.3f}  lr {row['lr']:.1e}  "
                    f"{row['seconds']:.1f}s{'  *' if improved else ''}")
        if self.dist.is_main and (self.out_dir / "best.pt").is_file():
            self.net.load_state_dict(torch.load(self.out_dir / "best.pt", map_location=self.device, weights_only=True))
        return self.history
