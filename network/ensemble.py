"""EfficientNet-Lite backbones whose last blocks are fine-tuned, averaged: the starter model.

Every member sees the same views of a picture (`TEST_TIME_VIEWS`), taken at the largest member's
size and resized for the smaller ones, so one decode and one transform serve all: "four", the
centre crop and the whole picture fitted into the square, each with its mirror image (four
passes), or "whole", the whole picture alone (one pass, for a model distilled from a four-view
one). The crop alone cuts off a dress's hem or a sleeve's cuff, what tells a dress from a
T-shirt or a longsleeve from outerwear.
Each member's frozen trunk (stem and all blocks but the last TUNED_BLOCKS) feeds two tails: a
trained copy of the last blocks and conv_head with a category head, and the backbone's own
frozen last blocks, conv_head and ImageNet classifier, whose probability mass on garment
classes is the "is this a garment" score (a gate that needs the untouched ImageNet features).
The answer is the average of the members' category probabilities over the views (test-time
augmentation), returned as log-probabilities so that a temperature can calibrate it.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import re

import torch
import torch.nn.functional as F
from torch import nn

from network.lite import LITE_SIZES, efficientnet_lite_package, tf_efficientnet_lite, tf_lite_preprocessing
from network.pooling import gem
from shoplens import ShopLensError
from shoplens.bundle import BundleInfo, Preprocessing
from shoplens.exported import COLOUR_FEATURES, COPY_EMBEDDING, DESCRIPTORS, EMBEDDING

ARCH = "efficientnet_lite_ensemble"
TRAINED_PART = re.compile(r"^members\.\d+\.(tuned|head)\.")

# ImageNet-1k classes that are garments, shoes or hats (the taxonomy of a clothes shop).
GARMENT_IMAGENET_CLASSES = (
    399,  # abaya
    400,  # academic gown
    411,  # apron
    433,  # bathing cap
    439,  # bearskin (hat)
    445,  # bikini
    451,  # bolo tie
    452,  # bonnet
    457,  # bow tie
    459,  # brassiere
    465,  # bulletproof vest
    474,  # cardigan
    501,  # cloak
    502,  # clog
    514,  # cowboy boot
    515,  # cowboy hat
    552,  # feather boa
    568,  # fur coat
    578,  # gown
    601,  # hoopskirt
    608,  # jean
    610,  # jersey, T-shirt
    614,  # kimono
    617,  # lab coat
    630,  # Loafer
    638,  # maillot
    639,  # maillot, tank suit
    652,  # military uniform
    655,  # miniskirt
    658,  # mitten
    667,  # mortarboard
    689,  # overskirt
    697,  # pajama
    735,  # poncho
    770,  # running shoe
    774,  # sandal
    775,  # sarong
    788,  # shoe shop
    793,  # shower cap
    806,  # sock
    808,  # sombrero
    824,  # stole
    834,  # suit
    841,  # sweatshirt
    842,  # swimming trunks
    869,  # trench coat
    885,  # velvet
    887,  # vestment
    906,  # Windsor tie
    911,  # wool (knitted)
)


# name: (the views preprocessing makes, in order; whether the network adds each one's mirror image)
TEST_TIME_VIEWS = {"four": (("crop", "whole"), True), "whole": (("whole",), False)}
VIEW_KIND_WORDS = {"crop": "centre crop", "whole": "whole picture"}


def first_view_words(views: str) -> str:
    """The first view of a TEST_TIME_VIEWS name, in words: the view the copy and colour descriptors read."""
    return VIEW_KIND_WORDS[TEST_TIME_VIEWS[views][0][0]]

TUNED_BLOCKS = 1  # the backbone's last blocks that the category head's training fine-tunes (its last stage)


class Member(nn.Module):
    """One frozen backbone (trunk, then its own frozen tail and ImageNet classifier) and a trained tail
    (a copy of the last TUNED_BLOCKS blocks and conv_head) with a category head."""

    def __init__(self, arch: str, classes: int, weights: str = "imagenet") -> None:
        super().__init__()
        self.arch, self.size = arch, LITE_SIZES[arch]
        self.backbone = tf_efficientnet_lite(arch, weights).eval().requires_grad_(False)
        blocks = [block for stage in self.backbone.blocks for block in stage]
        self.trunk_blocks = nn.Sequential(*blocks[:-TUNED_BLOCKS])  # the backbone's own modules, not copies
        self.frozen_tail = nn.Sequential(*blocks[-TUNED_BLOCKS:], self.backbone.conv_head, self.backbone.bn2)
        self.tuned = copy.deepcopy(self.frozen_tail).requires_grad_(True)
        self.head = nn.Linear(self.backbone.num_features, classes)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        """The frozen feature map entering the last blocks, of pictures cropped at any size (resized to
        this member's own): what training caches."""
        if x.shape[-1] != self.size:
            x = antialiased_resize(x, self.size)
        return self.trunk_blocks(self.backbone.bn1(self.backbone.conv_stem(x)))

    def frozen_map(self, trunk: torch.Tensor) -> torch.Tensor:
        """The untouched backbone's last convolutional feature map."""
        return self.frozen_tail(trunk)

    def frozen_features(self, frozen_map: torch.Tensor) -> torch.Tensor:
        """The untouched backbone's pooled features (its ImageNet classifier's input)."""
        return self.backbone.forward_head(frozen_map, pre_logits=True)

    def tuned_features(self, trunk: torch.Tensor) -> torch.Tensor:
        """Pooled features of the fine-tuned tail: the category head's input and the search embedding."""
        return self.backbone.global_pool(self.tuned(trunk))

    def imagenet_logits(self, frozen_features: torch.Tensor) -> torch.Tensor:
        return self.backbone.classifier(frozen_features)

    def train(self, mode: bool = True) -> Member:
        super().train(mode)
        self.backbone.eval()  # the frozen parts keep their ImageNet batch-norm statistics
        return self


@functools.cache
def _antialiased_resize_matrix(size_in: int, size_out: int) -> torch.Tensor:
    """(size_out, size_in): torch's antialiased bilinear resize of one axis, as the matrix it applies."""
    # The identity picture resized along its height alone is that matrix (a one-pixel-wide picture
    # would not do: torch answers it with its first row everywhere).
    identity = torch.eye(size_in, dtype=torch.float64)[None, None]
    resized = F.interpolate(identity, size=(size_out, size_in), mode="bilinear", antialias=True, align_corners=False)
    return resized[0, 0].float().contiguous()


def antialiased_resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, S, S) -> (N, C, size, size), as ``F.interpolate(mode="bilinear", antialias=True)`` gives it.

    That resize is separable and linear, so it is two matrix products: the same numbers (to float
    rounding), and a graph ONNX can export (its exporter has no antialiased resize)."""
    matrix = _antialiased_resize_matrix(int(x.shape[-1]), size).to(x.dtype)  # int: a constant when traced
    return matrix @ x @ matrix.T


def garment_score(imagenet_logits: torch.Tensor) -> torch.Tensor:
    """log of the ImageNet probability mass on garment classes: high for clothes."""
    log_probs = imagenet_logits.log_softmax(-1)
    return torch.logsumexp(log_probs[..., list(GARMENT_IMAGENET_CLASSES)], dim=-1)


def views_and_mirrors(pixels: torch.Tensor, mirrors: bool = True) -> torch.Tensor:
    """(views or 2 * views, N, 3, S, S): each view of (N, 3, S, S) or (N, views, 3, S, S) pictures, then
    (with `mirrors`) its mirror image; the first view (and its mirror) come first."""
    views = (pixels.unsqueeze(1) if pixels.dim() == 4 else pixels).transpose(0, 1)
    return torch.stack([image for view in views for image in ((view, view.flip(-1)) if mirrors else (view,))])


def trunk_colour_features(trunk: torch.Tensor) -> torch.Tensor:
    """(N, C): trunk maps (N, C, H, W) of centre crops average-pooled; colour survives this deep in the
    backbone, and the pooled map says what the picture shows around the garment's colour."""
    return trunk.float().mean((-2, -1))


def mean_log_probs(logits: torch.Tensor, dim: int) -> torch.Tensor:
    """log of the average of softmax(logits) over `dim`: a probability average kept as logits."""
    return torch.logsumexp(logits.log_softmax(-1), dim=dim) - math.log(logits.shape[dim])


def views_preprocessing(archs: list[str], views: str) -> Preprocessing:
    """The preprocessing of members `archs` seeing `views` (a TEST_TIME_VIEWS name): the largest member's size.
    The four views stay at the largest EfficientNet-Lite's size, as the starter was trained."""
    kinds, _ = TEST_TIME_VIEWS[views]
    size = max(LITE_SIZES.values()) if views == "four" else max(LITE_SIZES[arch] for arch in archs)
    return dataclasses.replace(tf_lite_preprocessing(size), whole_picture="whole" in kinds, crop="crop" in kinds)


class Ensemble(nn.Module):
    """Members averaged over views (and their mirror images); outputs category log-probs and garment score."""

    def __init__(self, members: list[Member], preprocessing: Preprocessing, mirrors: bool) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)
        self.preprocessing, self.mirrors = preprocessing, mirrors

    @classmethod
    def build(cls, archs: list[str], classes: int, views: str = "four", weights: str = "imagenet") -> Ensemble:
        if views not in TEST_TIME_VIEWS:
            raise ShopLensError(f"views must be one of {', '.join(TEST_TIME_VIEWS)}, not {views!r}")
        return cls([Member(arch, classes, weights) for arch in archs], views_preprocessing(archs, views),
                   TEST_TIME_VIEWS[views][1])

    def chosen(self, archs: list[str]) -> Ensemble:
        """The members named `archs`, seeing the same views."""
        return Ensemble([m for m in self.members if m.arch in archs], self.preprocessing, self.mirrors)

    def outputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Category log-probabilities; garment score; EMBEDDING: each member's view-averaged tuned
        features, unit length, side by side (visual search, class-aware); COPY_EMBEDDING: the same for
        the GeM of each member's frozen feature map over the first view (the centre crop where there is
        one: a cropped copy has no whole picture to match) and its mirror image where the network mirrors
        (so a mirrored copy has the very same descriptor; without, the index holds mirror images);
        COLOUR_FEATURES: each member's pooled trunk map of the first view, side by side (what a bundle's
        colour model reads beside the pixels, as `trunk_colour_features` gives it in training)."""
        views = views_and_mirrors(x, self.mirrors)  # test-time augmentation
        first = 2 if self.mirrors else 1  # the first view's passes
        category, garment, embedding, copies, colour = [], [], [], [], []
        for member in self.members:
            trunk = member.trunk(views.flatten(0, 1))
            colour.append(trunk_colour_features(trunk.unflatten(0, views.shape[:2])[0]))
            tuned = member.tuned_features(trunk).unflatten(0, views.shape[:2])
            category.append(member.head(tuned))
            embedding.append(F.normalize(tuned.mean(0), dim=1))
            # the frozen path: outputs that fine-tuning must not move
            frozen_map = member.frozen_map(trunk)
            frozen = member.frozen_features(frozen_map)
            garment.append(garment_score(member.imagenet_logits(frozen)).unflatten(0, views.shape[:2]))
            first_view = gem(frozen_map).unflatten(0, views.shape[:2])[:first]
            copies.append(F.normalize(first_view.mean(0), dim=1))
        category_logits = torch.cat(category)  # (members * views, batch, classes)
        return {"category": mean_log_probs(category_logits, 0), "garment": torch.cat(garment).mean(0),
                EMBEDDING: torch.cat(embedding, dim=1), COPY_EMBEDDING: torch.cat(copies, dim=1),
                COLOUR_FEATURES: torch.cat(colour, dim=1)}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: out for name, out in self.outputs(x).items() if name not in DESCRIPTORS}

    def trained_state(self) -> dict[str, torch.Tensor]:
        """The trained parts only: tuned tails and heads (the backbones come from their PyPI packages)."""
        return {k: v for k, v in self.state_dict().items() if TRAINED_PART.search(k)}

    def load_trained_state(self, state: dict[str, torch.Tensor]) -> None:
        own = self.trained_state()
        if set(state) != set(own) or any(state[k].shape != own[k].shape for k in own):
            raise ShopLensError(f"trained weights do not fit: {sorted(state)[:3]} vs {sorted(own)[:3]}")
        self.load_state_dict(state, strict=False)


def backbone_record(archs: list[str], mirrors: bool = True) -> dict:
    return {"members": archs, "packages": [efficientnet_lite_package(arch) for arch in archs], "mirrors": mirrors}


def load_ensemble(info: BundleInfo, state: dict[str, torch.Tensor]) -> Ensemble:
    """A starter bundle's network: backbones from their packages (same versions), tuned tails and heads
    from the bundle."""
    archs = info.backbone["members"]
    installed = [efficientnet_lite_package(arch) for arch in archs]
    if installed != info.backbone["packages"]:
        raise ShopLensError(f"the bundle was trained on {info.backbone['packages']}; installed: "
                            f"{installed} (install those versions)")
    ensemble = Ensemble([Member(arch, len(info.tasks["category"])) for arch in archs], info.preprocessing,
                        info.backbone.get("mirrors", True))  # older bundles: the four views
    ensemble.load_trained_state(state)
    return ensemble.eval()
