"""The "is this a garment" gate: its threshold from train garments' scores, its rejection rates measured on
validation garments and on real photographs and drawn pictures that are no garment.

The score is the frozen ImageNet tails' probability mass on garment classes (``network.ensemble.garment_score``),
read here from cached trunk maps.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch
from PIL import Image

from network.ensemble import Ensemble, Member, garment_score
from shoplens.sample import NON_GARMENTS, draw_non_garment
from shoplens.stats import t_interval
from training.presets import eval_preset

GARMENT_QUANTILE = 0.02  # train garments allowed below the garment threshold

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


@torch.no_grad()
def garment_scores(ensemble: Ensemble, maps: dict[str, torch.Tensor], chunk: int = 128) -> torch.Tensor:
    """The ensemble's garment score from cached trunk maps, through the frozen tails: mean over members
    and views."""
    def member_scores(member: Member, part: torch.Tensor) -> torch.Tensor:
        frozen = member.frozen_features(member.frozen_map(part.flatten(0, 1).float()))
        return garment_score(member.imagenet_logits(frozen)).unflatten(0, part.shape[:2]).mean(1)

    return torch.stack([torch.cat([member_scores(m, part) for part in maps[m.arch].split(chunk)])
                        for m in ensemble.members]).mean(0)


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
