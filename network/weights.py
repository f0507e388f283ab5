"""Reading state dicts and loading them exactly: every key matched in name and shape."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from shoplens import ShopLensError


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise ShopLensError(f"weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ShopLensError(f"weights file {path} is not a readable state dict ({reason})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not state:
        raise ShopLensError(f"weights file {path} holds no state dict")
    return state


def load_exact(module: nn.Module, state: dict[str, torch.Tensor], origin: str) -> None:
    """Load `state` into `module`, failing unless every key matches in name and shape."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or wrong:
        raise ShopLensError(
            f"weights {origin} do not fit {type(module).__name__}: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}, wrong shape {wrong[:3]}")
    module.load_state_dict(state, strict=True)


def map_in_order(own: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a same-architecture state dict whose keys differ but whose order matches."""
    if len(own) != len(theirs):
        raise ShopLensError(f"cannot map weights: {len(theirs)} tensors for {len(own)}")
    mapped = {}
    for (name, tensor), (their_name, value) in zip(own.items(), theirs.items(), strict=True):
        if name.rsplit(".", 1)[-1] != their_name.rsplit(".", 1)[-1] or tensor.shape != value.shape:
            raise ShopLensError(f"cannot map weights: {their_name} {tuple(value.shape)} "
                                f"vs {name} {tuple(tensor.shape)}")
        mapped[name] = value
    return mapped
