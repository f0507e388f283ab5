"""Networks: a backbone cut into frozen and trainable parts, and one head per task.

Every architecture is a list of parts whose last part outputs the embedding; its last
convolutional block outputs the last feature map, whose GeM is the copy descriptor
(``network.pooling``). ``cut`` splits the list: parts before it are frozen (their
outputs can be cached), parts from it on are trained. Weight names do not depend on the cut, so one state dict fits any.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from torch import nn

from network.lite import LITE_SIZES, tf_efficientnet_lite, tf_lite_preprocessing
from network.pooling import gem
from network.weights import load_exact, read_state_dict
from shoplens import ShopLensError
from shoplens.bundle import BundleInfo, Preprocessing, read_bundle
from shoplens.exported import COPY_EMBEDDING, EMBEDDING

ARCHITECTURES = (*LITE_SIZES, "vgg16", "resnet50", "simple_cnn")
TRAINABLE = ("head", "last", "all")
IMAGENET = Preprocessing()


class ShopLensNet(nn.Module):
    def __init__(self, parts: list[nn.Module], cut: int, embed_dim: int,
                 tasks: dict[str, list[str]], dropout: float, map_part: int) -> None:
        super().__init__()
        self.parts = nn.ModuleList(parts)
        self.cut = cut
        self.map_part = map_part  # parts[map_part] outputs the last convolutional feature map
        self.heads = nn.ModuleDict({
            task: nn.Sequential(nn.Dropout(dropout), nn.Linear(embed_dim, len(labels)))
            for task, labels in tasks.items()
        })
        for part in self.parts[:cut]:
            part.requires_grad_(False)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen parts: deterministic, so their output may be cached."""
        for part in self.parts[: self.cut]:
            x = part(x)
        return x

    def embed_from_stem(self, z: torch.Tensor) -> torch.Tensor:
        for part in self.parts[self.cut:]:
            z = part(z)
        return z

    def forward_from_stem(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        embedding = self.embed_from_stem(z)
        return {task: head(embedding) for task, head in self.heads.items()}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_from_stem(self.stem(x))

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every head's logits, the pooled features (EMBEDDING) and the GeM of the last feature map
        (COPY_EMBEDDING): what the exports serve, from one pass."""
        for index, part in enumerate(self.parts):
            x = part(x)
            if index == self.map_part:
                copy = gem(x)
        return {**{task: head(x) for task, head in self.heads.items()}, EMBEDDING: x, COPY_EMBEDDING: copy}

    def train(self, mode: bool = True) -> ShopLensNet:
        super().train(mode)
        for part in self.parts[: self.cut]:
            part.eval()  # frozen batch-norm statistics stay the pretrained ones
        return self


# --- architectures ---------------------------------------------------------------------

def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


def _simple_cnn(weights: str) -> tuple[list[nn.Module], int, int, Preprocessing]:
    parts = [_conv_block(3, 32), _conv_block(32, 64), _conv_block(64, 128), _conv_block(128, 256),
             nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())]
    if weights == "imagenet":
        raise ShopLensError("simple_cnn has no ImageNet weights: use --weights none or a local file")
    if weights != "none":
        load_exact(nn.ModuleList(parts), read_state_dict(Path(weights)), weights)
    return parts, 3, 256, IMAGENET


def _torchvision(name: str, weights: str) -> nn.Module:
    import torchvision

    builder = getattr(torchvision.models, name)
    if weights == "imagenet":
        enum = torchvision.models.get_model_weights(name).DEFAULT
        try:
            return builder(weights=enum)
        except Exception as exc:  # URLError, SSL, HTTP errors: all mean no download
            raise ShopLensError(f"could not download ImageNet weights for {name} ({exc}); "
                                f"offline, pass --weights PATH to a local state dict, or --weights none") from None
    model = builder(weights=None)
    if weights != "none":
        load_exact(model, read_state_dict(Path(weights)), weights)
    return model


def _vgg16(weights: str) -> tuple[list[nn.Module], int, int, Preprocessing]:
    model = _torchvision("vgg16", weights)
    conv5 = 24  # features[24:] is the fifth convolution block
    parts = [model.features[:conv5], model.features[conv5:], model.avgpool, nn.Flatten(), model.classifier[:-1]]
    return parts, 1, 4096, IMAGENET


def _resnet50(weights: str) -> tuple[list[nn.Module], int, int, Preprocessing]:
    m = _torchvision("resnet50", weights)
    parts = [nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1, m.layer2, m.layer3),
             m.layer4, nn.Sequential(m.avgpool, nn.Flatten())]
    return parts, 1, 2048, IMAGENET


def _efficientnet_lite(arch: str, weights: str) -> tuple[list[nn.Module], int, int, Preprocessing]:
    model = tf_efficientnet_lite(arch, weights)
    parts = [nn.Sequential(model.conv_stem, model.bn1, *model.blocks[:-1]),
             nn.Sequential(model.blocks[-1], model.conv_head, model.bn2), model.global_pool]
    return parts, 1, model.num_features, tf_lite_preprocessing(LITE_SIZES[arch])


_BUILDERS: dict[str, Callable[[str], tuple[list[nn.Module], int, int, Preprocessing]]] = {
    **{arch: partial(_efficientnet_lite, arch) for arch in LITE_SIZES},
    "vgg16": _vgg16, "resnet50": _resnet50, "simple_cnn": _simple_cnn,
}


def build_model(arch: str, tasks: dict[str, list[str]], weights: str = "imagenet",
                trainable: str = "head", dropout: float = 0.5) -> tuple[ShopLensNet, Preprocessing]:
    """A ShopLensNet and the preprocessing its backbone expects.

    weights: "imagenet" (torchvision's download, or the bundled package file for
    efficientnet_lite0), "none", or a path to a local state dict of the backbone.
    """
    if arch not in _BUILDERS:
        raise ShopLensError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}")
    if trainable not in TRAINABLE:
        raise ShopLensError(f"trainable must be one of {', '.join(TRAINABLE)}, not {trainable!r}")
    # last_block: the last convolutional block, trained with --trainable last; it outputs the last feature map
    parts, last_block, embed_dim, preprocessing = _BUILDERS[arch](weights)
    cut = {"head": len(parts), "last": last_block, "all": 0}[trainable]
    return ShopLensNet(parts, cut, embed_dim, tasks, dropout, map_part=last_block), preprocessing


def load_network(arch: str, tasks: dict[str, list[str]], trainable: str, dropout: float,
                 weights: Path) -> ShopLensNet:
    """A trained network from its saved state dict, in eval mode."""
    net, _ = build_model(arch, tasks, "none", trainable, dropout)
    load_exact(net, torch.load(weights, map_location="cpu", weights_only=True), str(weights))
    return net.eval()


def load_bundle_model(directory: Path) -> tuple[nn.Module, BundleInfo]:
    """The network of an exported bundle, in eval mode, with its description."""
    info, weights = read_bundle(directory)
    if info.backbone:
        from network.ensemble import load_ensemble

        return load_ensemble(info, torch.load(weights, map_location="cpu", weights_only=True)), info
    return load_network(info.arch, info.tasks, info.trainable, info.dropout, weights), info
