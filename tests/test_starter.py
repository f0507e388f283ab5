"""The starter model committed in models/starter, calibration, the garment gate and colour from pixels."""

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from serving.operations.cli import STARTER_BUNDLE
from shoplens import ShopLensError
from shoplens.bundle import BundleInfo, Preprocessing
from shoplens.classifier import calibrated_probabilities, describe
from shoplens.colour import READING_FEATURES, ColourModel, dominant_colour
from shoplens.exported import COLOUR_FEATURES
from shoplens.sample import draw_garment
from shoplens.settings import CLOTHING_SMALL as CLOTHING_SMALL_SETTING
from shoplens.vocab import COLOURS

CLOTHING_SMALL = Path(__file__).resolve().parents[1] / CLOTHING_SMALL_SETTING.read()  # absolute stays absolute


@pytest.fixture(scope="module")
def starter():
    from network.models import load_bundle_model
    from training.presets import eval_preset

    model, info = load_bundle_model(STARTER_BUNDLE)
    transform = eval_preset(info.preprocessing)

    def answer(image):
        with torch.inference_mode():
            outputs = model(transform(image)[None])
        return describe({task: out[0] for task, out in outputs.items()}, info, image, 0.2)

    return answer, info


def test_starter_bundle_stores_only_the_trained_parts(starter):
    from network.ensemble import TRAINED_PART

    _, info = starter
    weights = STARTER_BUNDLE / "weights.pt"
    assert weights.stat().st_size < 25 * 2**20
    keys = list(torch.load(weights, weights_only=True))
    assert all(TRAINED_PART.search(key) for key in keys)  # tuned last blocks and heads; no backbone copied
    assert any(".tuned." in key for key in keys) and any(".head." in key for key in keys)
    assert info.backbone["packages"] and info.calibration["temperature"] > 0
    assert (STARTER_BUNDLE / "MODEL_CARD.md").is_file()


@pytest.mark.skipif(not (CLOTHING_SMALL / "validation").is_dir(), reason="clothing-small is not on this machine")
def test_starter_answers_real_shop_photographs(starter):
    from shoplens.imaging import decode_image

    answer, info = starter
    pictures = [(label, path) for label in ("pants", "shoes", "t-shirt", "dress")
                for path in sorted((CLOTHING_SMALL / "validation" / label).glob("*.jpg"))[:3]]
    answers = [(label, answer(decode_image(path))) for label, path in pictures]
    assert all(a["garment"] is True and a["category"] in info.tasks["category"] for _, a in answers)
    assert sum(a["category"] == label for label, a in answers) >= len(answers) - 2
    assert all(a["category"] in [c["label"] for c in a["categories"]] for _, a in answers)
    # the bundle's colour model names the colour; the pixels' own estimate comes beside it
    assert all(a["colour"]["source"] == "model" and a["colour_from_pixels"]["source"] == "pixels"
               and a["colour"]["label"] in info.colour_model["names"] for _, a in answers)


def test_starter_copy_descriptor_is_gem_of_the_frozen_map_and_the_index_holds_mirror_images_for_it():
    """copy_embedding beside embedding in the one pass the labels come from: unit length, the GeM of the
    frozen backbone's last feature map (1280 channels); the same for a picture and its mirror image where the
    network mirrors its views, else different, and the index then adds mirror images of catalogue pictures."""
    import skimage.data
    from PIL import Image

    from network.export import eager_outputs
    from network.models import load_bundle_model
    from serving.index.build import mirror_variant
    from shoplens.exported import COPY_EMBEDDING, DESCRIPTORS, EMBEDDING
    from shoplens.preprocessing import eval_batch

    model, info = load_bundle_model(STARTER_BUNDLE)
    picture = Image.fromarray(skimage.data.chelsea())
    pixels = eval_batch([picture, picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], info.preprocessing)
    outputs = eager_outputs(model, pixels)
    assert outputs[COPY_EMBEDDING].shape == (2, 1280) and outputs[EMBEDDING].shape == (2, 1280)
    assert all(np.allclose(np.linalg.norm(outputs[name], axis=1), 1, atol=1e-5) for name in DESCRIPTORS)
    assert mirror_variant(outputs) != info.backbone.get("mirrors", True)
    assert float(outputs[COPY_EMBEDDING][0] @ outputs[EMBEDDING][0]) < 0.999  # a descriptor of its own
    with torch.inference_mode():
        answered = model(torch.from_numpy(pixels))
    assert set(answered) == set(info.tasks) | {"garment", COLOUR_FEATURES}  # the answer's outputs only
    assert answered[COLOUR_FEATURES].shape == (2, 192)  # what the bundle's colour model reads beside the pixels


@pytest.mark.parametrize("name", ["coffee", "rocket", "chelsea", "coins", "moon", "hubble_deep_field"])
def test_sample_photographs_are_no_garment(starter, name):
    import skimage.data
    from PIL import Image

    answer, _ = starter
    result = answer(Image.fromarray(getattr(skimage.data, name)()).convert("RGB"))
    assert result["garment"] is False and result["garment_score"] < 0


def test_calibrated_probabilities_follow_the_temperature():
    logits = torch.tensor([2.0, 1.0, -1.0])
    info = BundleInfo("simple_cnn", "all", 0.5, {"category": ["a", "b", "c"]}, Preprocessing(),
                      calibration={"temperature": 2.5}, category_threshold=0.3)
    calibrated = calibrated_probabilities(logits, info)
    assert np.allclose(calibrated, (logits / 2.5).softmax(0))
    assert calibrated[0] < logits.softmax(0)[0]  # a temperature above 1 softens an over-confident answer
    answer = describe({"category": logits}, info, None, 0.2)
    assert answer["labels"][0]["probability"] == round(float(calibrated[0]), 4)
    assert [c["label"] for c in answer["categories"]] == ["a", "b"]  # b passes the 0.3 threshold, c does not


def test_starter_probabilities_are_the_temperature_scaled_ones(starter):
    _, info = starter
    raw = torch.tensor([1.5, 0.2, -0.3] + [-2.0] * (len(info.tasks["category"]) - 3))
    temperature = info.calibration["temperature"]
    assert np.allclose(calibrated_probabilities(raw, info), (raw / temperature).softmax(0))


def test_colour_of_drawn_garments_on_busy_backgrounds():
    rng = random.Random(7)
    drawn = [(colour, draw_garment(category, colour, (192, 256), rng, busy=True))
             for colour in COLOURS for category in ("dress", "shirt", "pants")]
    named = [dominant_colour(image).name == colour for colour, image in drawn]
    assert sum(named) >= 0.85 * len(named), [(c, dominant_colour(i).name) for c, i in drawn]
    for colour in ("red", "blue", "black", "white"):
        picture = draw_garment("shirt", colour, (192, 256), random.Random(1), busy=True)
        assert dominant_colour(picture).name == colour



def test_colour_figures_measure_the_labellers_agreement(tmp_path):
    """Colour accuracy against two labellings of the same pictures: their agreement, accuracy against the
    second, and accuracy on the pictures both name alike; a second labelling of other pictures is refused."""
    from shoplens import ShopLensError
    from training.colour_fit import colour_figures

    pictures = {f"validation/shirt/{colour}.png": colour for colour in ("red", "blue", "black", "white")}
    for name, colour in pictures.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        draw_garment("shirt", colour, (192, 256), random.Random(1), busy=True).save(tmp_path / name)
    first, second = tmp_path / "first.csv", tmp_path / "second.csv"
    first.write_text("file,colour,single_colour\n" + "".join(f"{n},{c},yes\n" for n, c in pictures.items()))
    # the second labeller calls the black shirt blue and the white one grey: 2 of 4 pictures agree
    second_labels = pictures | {"validation/shirt/black.png": "blue", "validation/shirt/white.png": "grey"}
    second.write_text("file,colour\n" + "".join(f"{n},{c}\n" for n, c in second_labels.items()))
    figures = colour_figures(tmp_path, first, second)
    assert figures["split"] == "validation"
    assert figures["all"]["estimate"] == 1.0  # what test_colour_of_drawn_garments_on_busy_backgrounds asserts
    assert figures["labellers_agree"]["estimate"] == 0.5
    assert figures["second_labels"]["estimate"] == 0.5
    assert (figures["labels_agreed"]["estimate"], figures["labels_agreed"]["n"]) == (1.0, 2)
    second.write_text("file,colour\nvalidation/shirt/red.png,red\n")
    with pytest.raises(ShopLensError, match="same pictures"):
        colour_figures(tmp_path, first, second)

def _flat_lay(floor, garment, light):
    """A T-shirt laid flat on a plain floor, photographed under `light` (1: full exposure), with sensor noise."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (300, 400), floor)
    shirt = [(80, 70), (220, 70), (285, 140), (240, 175), (230, 345), (70, 345), (60, 175), (15, 140)]
    ImageDraw.Draw(picture).polygon(shirt, fill=garment)
    noise = np.random.default_rng(0).normal(0, 3, (400, 300, 3))
    return Image.fromarray(np.clip(np.asarray(picture, np.float64) * light + noise, 0, 255).astype(np.uint8))


def _colour_model(model_features: int) -> ColourModel:
    """Names red where the model's first colour feature is positive, blue where it is negative."""
    width = READING_FEATURES + model_features
    coef = np.zeros((2, width))
    coef[:, READING_FEATURES] = [-4.0, 4.0]
    return ColourModel(("blue", "red"), np.zeros(width), np.ones(width), coef, np.zeros(2), {"C": 1.0})


def test_a_bundles_colour_model_names_the_colour_and_the_pixels_estimate_stays_beside_it():
    info = BundleInfo(arch="a", trainable="last", dropout=0.0, tasks={"category": ["dress", "shirt"]},
                      preprocessing=Preprocessing(),
                      colour_model=_colour_model(3).to_json())
    info = BundleInfo(**{**json.loads(info.to_json()), "preprocessing": info.preprocessing})  # as bundle.json holds it
    picture = draw_garment("shirt", "white", (96, 128), random.Random(0), busy=True)
    answers = [describe({"category": np.log([0.3, 0.7]), COLOUR_FEATURES: np.array([sign, 0.0, 0.0])}, info,
                        picture, 0.2) for sign in (1.0, -1.0)]
    assert [a["colour"]["label"] for a in answers] == ["red", "blue"]
    assert all(a["colour"]["source"] == "model" and a["colour"]["probability"] > 0.9 for a in answers)
    assert all(a["colour_from_pixels"] == dominant_colour(picture).as_dict() for a in answers)
    # without the model's colour features (a model exported before them) the pixels answer alone
    assert describe({"category": np.log([0.3, 0.7])}, info, picture, 0.2)["colour"]["source"] == "pixels"
    with pytest.raises(ValueError, match="reads 83 features"):
        ColourModel.from_json(info.colour_model).logits(np.zeros(80))


def test_colour_model_is_fitted_on_labelled_train_pictures_and_measured_on_validation(tmp_path):
    from network.ensemble import Ensemble
    from training.colour_fit import ColourLabels, fit_colour_model
    from training.features import trunk_maps
    from training.splits import LabelledPart, read_folder_split

    rng = random.Random(3)
    rows = {split: [f"{split}/{category}/{colour}{i}.jpg" for category in ("shirt", "dress")
                    for colour in ("red", "blue", "green") for i in range(count)]
            for split, count in (("train", 4), ("validation", 1))}
    for files in rows.values():
        for file in files:
            (tmp_path / file).parent.mkdir(parents=True, exist_ok=True)
            colour = Path(file).stem.rstrip("0123456789")
            draw_garment(Path(file).parent.name, colour, (160, 200), rng, busy=True).save(tmp_path / file)
    for split, files in rows.items():
        (tmp_path / f"{split}.csv").write_text("file,colour\n" + "".join(
            f"{file},{Path(file).stem.rstrip('0123456789')}\n" for file in files))
    served = Ensemble.build(["efficientnet_lite0"], 2).eval()
    split, categories = read_folder_split(tmp_path)
    splits = {}
    for part in rows:
        pictures = LabelledPart.of(split, part, categories)
        splits[part] = (trunk_maps(served, pictures.samples, tmp_path / "cache", mirrors=False), pictures)
    labels = ColourLabels([tmp_path / "train.csv"], tmp_path / "validation.csv")
    model = fit_colour_model(served, splits, tmp_path, labels)
    assert model.names == ("blue", "green", "red") and model.coef.shape == (3, READING_FEATURES + 192)
    assert model.figures["train_labels"] == 24 and model.figures["accuracy"]["n"] == 6
    assert model.figures["accuracy"]["estimate"] == 1.0  # drawn garments: plain colours
    assert set(model.figures["mcnemar"]) == {"b", "c", "p"}
    missing = tmp_path / "missing.csv"
    missing.write_text("file,colour\ntrain/shirt/gone.jpg,red\n")
    with pytest.raises(ShopLensError, match="not in"):
        fit_colour_model(served, splits, tmp_path, ColourLabels([missing], tmp_path / "validation.csv"))


def test_colour_of_white_in_a_dim_photograph_and_of_navy():
    """A white shirt on a dark floor in a dim room is white (the picture's own bright end sets its exposure),
    and a navy shirt in a plain photograph (CIELAB about 20, 1, -7: what navy keeps in these photographs) is blue
    while a black one stays black."""
    assert dominant_colour(_flat_lay((70, 55, 40), (235, 235, 230), 0.5)).name == "white"
    assert dominant_colour(_flat_lay((190, 180, 165), (45, 48, 58), 1.0)).name == "blue"
    assert dominant_colour(_flat_lay((190, 180, 165), (32, 32, 32), 1.0)).name == "black"


@pytest.mark.timeout(300)
def test_torchserve_serves_the_starter_model_as_shoplens_serve_up_does(tmp_path):
    """`shoplens-serve up` with no bundle: the starter archive in a real TorchServe names a sample
    photograph no garment, with a colour from its colour model and a calibrated category set."""
    import io
    import json

    import skimage.data
    from PIL import Image

    from serving.operations.archive import archive
    from serving.operations.torchserve import TorchServe

    mar = archive(STARTER_BUNDLE, tmp_path / "store")
    server = TorchServe(mar.parent, tmp_path / "work").start()
    try:
        server.register(mar.name)
        picture = io.BytesIO()
        Image.fromarray(skimage.data.coffee()).save(picture, "JPEG")
        status, body = server.request("inference", "POST", "/predictions/shoplens", picture.getvalue(), timeout=120)
    finally:
        server.stop()
    assert status == 200, body
    answer = json.loads(body)
    assert answer["garment"] is False and answer["garment_score"] < 0
    assert answer["colour"]["source"] == "model" and answer["colour_from_pixels"]["source"] == "pixels"
    assert answer["category"] in [c["label"] for c in answer["categories"]]


def test_fine_tuning_moves_the_category_tail_never_the_frozen_path():
    """The garment score is the untouched ImageNet backbone's own, and so is the copy descriptor, whatever
    the tuned tail holds; the search embedding is the tuned one."""
    import torch.nn.functional as F

    from network.ensemble import Ensemble, garment_score
    from shoplens.exported import COPY_EMBEDDING, EMBEDDING

    ensemble = Ensemble.build(["efficientnet_lite0"], 3).eval()
    member = ensemble.members[0]
    pictures = torch.rand(2, 3, 260, 260) * 2 - 1
    with torch.no_grad():
        before = ensemble.outputs(pictures)
        for parameter in member.tuned.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
        after = ensemble.outputs(pictures)
        views = F.interpolate(torch.cat([pictures, pictures.flip(-1)]), size=(224, 224), mode="bilinear",
                              antialias=True, align_corners=False)
        imagenet = garment_score(member.backbone(views)).unflatten(0, (2, 2)).mean(0)
    assert torch.allclose(after["garment"], imagenet, atol=1e-4) and torch.allclose(before["garment"], imagenet,
                                                                                      atol=1e-4)
    assert torch.allclose(after[COPY_EMBEDDING], before[COPY_EMBEDDING])
    assert not torch.allclose(after[EMBEDDING], before[EMBEDDING], atol=1e-3)


def test_a_one_view_starter_sees_the_whole_picture_once_and_exports_as_it_runs(tmp_path):
    """views="whole": the preprocessing makes the whole picture alone, at the member's own size; the network
    runs it once (no mirror image), so a mirrored picture gets a copy descriptor of its own (the index then
    holds mirror images: serving.index.build.mirror_variant); the ONNX export answers as the network does."""
    import skimage.data
    from PIL import Image

    from network.ensemble import Ensemble
    from network.export import export_models
    from serving.index.build import mirror_variant
    from shoplens.exported import COPY_EMBEDDING, onnx_predictor
    from shoplens.preprocessing import eval_batch

    ensemble = Ensemble.build(["efficientnet_lite0"], 3, views="whole").eval()
    pre = ensemble.preprocessing
    assert (pre.views, pre.image_size, ensemble.mirrors) == (("whole",), 224, False)
    picture = Image.fromarray(skimage.data.chelsea())  # 451 x 300: white margins above and below
    pixels = eval_batch([picture, picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)], pre)
    assert pixels.shape == (2, 3, 224, 224) and np.allclose(pixels[0, :, :20], 1.0)  # white, normalised to [-1, 1]
    exported = onnx_predictor(export_models(ensemble, pre, tmp_path, ("onnx",))["onnx"])(pixels)
    assert exported["category"].shape == (2, 3) and mirror_variant(exported)
    with torch.inference_mode():
        eager = ensemble.outputs(torch.from_numpy(pixels))
    assert np.abs(exported[COPY_EMBEDDING] - torch.nn.functional.normalize(eager[COPY_EMBEDDING]).numpy()).max() < 1e-4
    with pytest.raises(ShopLensError, match="views must be one of"):
        Ensemble.build(["efficientnet_lite0"], 3, views="two")
    with pytest.raises(ShopLensError, match="needs a view"):
        Preprocessing(crop=False)


def test_distillation_pulls_the_student_towards_the_teacher():
    """With a teacher the loss mixes its softened answer with the labels: it is lowest where the student
    answers as the teacher does, and without one it is the labels' cross-entropy alone."""
    import torch.nn.functional as F

    from training.tail_tuning import TuneSettings, distillation_loss

    settings = TuneSettings()
    targets = torch.tensor([0, 1])
    teacher = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.5, 1.0]]).log_softmax(1)
    like_teacher, unlike = teacher.clone(), teacher.flip(1)
    assert distillation_loss(like_teacher, targets, teacher, settings) < distillation_loss(unlike, targets, teacher,
                                                                                           settings)
    alone = distillation_loss(teacher, targets, teacher, TuneSettings(distil_weight=1.0))
    assert float(alone) == pytest.approx(0.0, abs=1e-6)
    assert torch.equal(distillation_loss(unlike, targets, None, settings),
                       F.cross_entropy(unlike, targets, label_smoothing=settings.fit.label_smoothing))


@pytest.mark.parametrize(("predictor", "package", "named"), [("onnx_predictor", "onnxruntime", "ONNX Runtime"),
                                                              ("openvino_predictor", "openvino", "OpenVINO")])
def test_a_bundle_on_a_runtime_this_process_lacks_is_refused_with_the_reason(tmp_path, predictor, package, named):
    """The starter serves on an exported runtime: a worker without it says so and what to do, not an ImportError."""
    script = (f"import sys; sys.modules[{package!r}] = None\n"
              "from pathlib import Path\n"
              "from shoplens import ShopLensError\n"
              f"from shoplens.exported import {predictor}\n"
              "try:\n"
              f"    {predictor}(Path(sys.argv[1]))\n"
              "except ShopLensError as exc:\n"
              "    print(exc); sys.exit(3)\n")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "model.onnx")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert named in done.stdout and f"pip install {package}" in done.stdout
