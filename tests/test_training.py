"""Real training runs on tiny drawn pictures: seconds each on a CPU."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from network.export import eager_probabilities, probabilities
from network.models import load_bundle_model
from shoplens import ShopLensError
from shoplens.bundle import Preprocessing, read_bundle
from shoplens.exported import COPY_EMBEDDING, DESCRIPTORS, load_predictor
from shoplens.imaging import decode_image
from shoplens.preprocessing import eval_batch, eval_pixels
from training.data import LabelSpace, PictureDataset
from training.engine import predict
from training.presets import eval_preset
from training.splits import load_split


def test_train_writes_metrics_report_and_bundle(tiny_data, tmp_path, fast_args, read_metrics, train):
    out = tmp_path / "run"
    assert train(fast_args(tiny_data, out)) == 0
    metrics = read_metrics(out)
    counts = metrics["split"]["counts"]
    assert sum(counts.values()) == 48 and min(counts.values()) > 0
    test_eval = metrics["evaluations"]["test"]["category"]
    assert test_eval["n"] == counts["test"] and test_eval["split"] == "test"
    assert test_eval["accuracy"]["method"] == "t" and test_eval["accuracy_wilson"]["method"] == "wilson"
    assert set(metrics["evaluations"]["test"]) == {"category", "colour"}
    assert len(metrics["history"]) == 2
    for name in ("curves.png", "confusion.png", "per_class.png", "lda.png", "index.html", "noise_review.csv"):
        assert (out / "report" / name).stat().st_size > 0
    page = (out / "report" / "index.html").read_text()
    assert "Pictures to review" in page or (out / "report" / "noise_review.csv").read_text().count("\n") == 1
    examples = sorted((out / "report" / "thumbs").glob("example-*.jpg"))  # two pictures of each class, shown
    assert len(examples) == 2 * len(metrics["tasks"]["category"]) and page.count("thumbs/example-") == len(examples)
    assert page.count(" taken for ") == len(list((out / "report" / "thumbs").glob("mistake-*.jpg")))
    table = (out / "comparison.md").read_text()
    assert "simple_cnn" in table and f"| {counts['test']} |" in table
    bundle = json.loads((out / "bundle" / "bundle.json").read_text())
    assert bundle["tasks"]["category"] == ["dress", "pants", "shirt"]
    assert bundle["preprocessing"]["image_size"] == 32 and len(bundle["data_digest"]) == 64


def test_bundle_loads_back_and_predicts_the_same(tiny_data, tmp_path, fast_args, read_metrics, train):
    out = tmp_path / "run"
    assert train(fast_args(tiny_data, out)) == 0
    net, info = load_bundle_model(out / "bundle")
    split = load_split(out / "split.json")
    labels = LabelSpace(info.tasks)
    loader = DataLoader(PictureDataset(split.part("test"), labels, eval_preset(info.preprocessing)), batch_size=4)
    predictions = predict(net, loader, torch.device("cpu"), from_stem=False)
    accuracy = float((predictions.probs["category"].argmax(1) == predictions.targets[:, 0]).mean())
    assert accuracy == read_metrics(out)["evaluations"]["test"]["category"]["accuracy"]["estimate"]


def test_fixed_seed_reproduces_metrics(tiny_data, tmp_path, fast_args, read_metrics, train):
    assert train(fast_args(tiny_data, tmp_path / "a", "--seed", "5")) == 0
    assert train(fast_args(tiny_data, tmp_path / "b", "--seed", "5")) == 0
    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert strip(a["history"]) == strip(b["history"])
    assert a["evaluations"] == b["evaluations"]


def test_resume_continues_from_the_checkpoint(tiny_data, tmp_path, fast_args, read_metrics, train):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    assert train(fast_args(tiny_data, whole, "--epochs", "3")) == 0
    assert train(fast_args(tiny_data, parts, "--epochs", "1")) == 0
    assert train(fast_args(tiny_data, parts, "--epochs", "3", "--resume")) == 0
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert [r["epoch"] for r in read_metrics(parts)["history"]] == [1, 2, 3]
    assert strip(read_metrics(parts)["history"]) == strip(read_metrics(whole)["history"])


def test_resume_refuses_a_different_configuration(tiny_data, tmp_path, capsys, fast_args, train):
    out = tmp_path / "run"
    assert train(fast_args(tiny_data, out, "--epochs", "1")) == 0
    assert train(fast_args(tiny_data, out, "--epochs", "2", "--resume", "--lr", "0.1")) == 2
    assert "different configuration" in capsys.readouterr().err


def test_repeats_give_an_interval_across_runs(tiny_data, tmp_path, fast_args, read_metrics, train):
    out = tmp_path / "run"
    assert train(fast_args(tiny_data, out, "--repeats", "3", "--epochs", "1", "--scheme", "50/50")) == 0
    repeats = read_metrics(out)["repeats"]
    assert repeats["seeds"] == [0, 1, 2] and len(repeats["validation"]["accuracies"]) == 3
    assert repeats["validation"]["interval"]["n"] == 3 and "test" not in repeats


def test_compare_builds_one_table(tiny_data, tmp_path, fast_args, run_module, train):
    for name, optimiser in (("a", "adam"), ("b", "sgd")):
        assert train(fast_args(tiny_data, tmp_path / name, "--epochs", "1", "--optimizer", optimiser)) == 0
    result = run_module("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp"))
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "cmp.md").read_text().splitlines()
    assert len(lines) == 4 and "adam" in lines[2] and "sgd" in lines[3]
    assert (tmp_path / "cmp.csv").read_text().count("\n") == 3


def test_pretrained_head_on_cached_features(tiny_data, tmp_path, read_metrics, train):
    cache = tmp_path / "cache"
    args = ["train", "--data", str(tiny_data), "--out", str(tmp_path / "run"), "--epochs", "3",
            "--feature-cache", str(cache), "--workers", "0", "--lr", "1e-3", "--categories", "dress,pants"]
    assert train(args) == 0
    assert len(list(cache.glob("*.pt"))) == 1
    metrics = read_metrics(tmp_path / "run")
    assert metrics["config"]["trainable"] == "head" and metrics["tasks"]["category"] == ["dress", "pants"]
    assert metrics["evaluations"]["validation"]["category"]["accuracy"]["estimate"] >= 0.75
    last = [*args[:4], str(tmp_path / "last"), *args[5:], "--trainable", "last", "--augment-views", "1"]
    assert train(last) == 0
    assert len(list(cache.glob("*.pt"))) == 3  # the stem before the last block: one plain, one augmented view


def test_noise_finder_ranks_a_mislabelled_picture_first():
    from training.noise import rank_suspects

    rng = np.random.default_rng(0)
    embeddings = np.concatenate([rng.normal(0, 0.1, (20, 8)) + 1, rng.normal(0, 0.1, (20, 8)) - 1])
    targets = np.array([0] * 20 + [1] * 20)
    targets[3] = 1  # sits among class 0
    probs = np.eye(2)[targets] * 0.9 + 0.05
    suspects = rank_suspects(embeddings, probs, targets, neighbours=5)
    assert suspects[0]["index"] == 3 and suspects[0]["disagreement"] == 1.0
    assert suspects[0]["neighbour_index"] == 0


@pytest.mark.parametrize("problem", ["empty", "one_class", "missing_weights", "corrupt_weights", "corrupt_split"])
def test_bad_input_is_one_clear_line_and_nothing_written(problem, tmp_path, tiny_data, fast_args, run_module):
    data, out = tmp_path / "data", tmp_path / "out"
    data.mkdir()
    extra: list[str] = []
    if problem == "one_class":
        shutil.copytree(tiny_data / "dress", data / "dress")
    elif problem in ("missing_weights", "corrupt_weights"):
        data = tiny_data
        weights = tmp_path / "weights.pt"
        if problem == "corrupt_weights":
            weights.write_bytes(b"\x00garbage")
        extra = ["--weights", str(weights)]
    elif problem == "corrupt_split":
        broken = tmp_path / "split.json"
        broken.write_text("{not json")
        extra = ["--split", str(broken)]
    result = run_module(*fast_args(data, out, *extra))  # a later --weights overrides fast_args' "none"
    assert result.returncode == 2
    error_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(error_lines) == 1 and error_lines[0].startswith("error: "), result.stderr
    assert not out.exists()


def test_corrupt_pictures_are_skipped_and_counted(data_copy, tmp_path, fast_args, read_metrics, train):
    whole = (data_copy / "dress" / "red" / "0000.jpg").read_bytes()
    (data_copy / "dress" / "red" / "broken.jpg").write_bytes(whole[:-400])
    (data_copy / "shirt" / "notes.txt").write_text("not a picture")
    (data_copy / "pants" / "blue" / "empty.png").write_bytes(b"")
    out = tmp_path / "run"
    assert train(fast_args(data_copy, out, "--epochs", "1")) == 0
    assert read_metrics(out)["split"]["skipped"] == {"truncated": 1, "not_an_image": 1, "empty": 1}


def test_console_script_and_module_agree(root):
    script = os.path.join(os.path.dirname(sys.executable), "shoplens-train")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60, cwd=root)
    assert result.returncode == 0 and "demo" in result.stdout


def test_distributed_training_on_cpu_with_torchrun(tiny_data, tmp_path, root, fast_args, read_metrics):
    """Two processes through torchrun and gloo: the DistributedDataParallel path."""
    out = tmp_path / "ddp"
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    command = [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "training",
               *fast_args(tiny_data, out, "--device", "cpu")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=root,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = read_metrics(out)
    assert len(metrics["history"]) == 2 and (out / "bundle" / "weights.pt").is_file()
    assert result.stdout.count("validation category accuracy") == 1  # only rank 0 reports


@pytest.mark.parametrize("pre", [Preprocessing(), Preprocessing(mean=[0.5] * 3, std=[0.5] * 3, interpolation="bicubic"),
                                 Preprocessing(resize=20, image_size=32)], ids=["imagenet", "tf-lite", "padded"])
def test_serving_preprocessing_is_torchvisions_eval_preset(pre):
    from PIL import Image
    from torchvision.transforms import v2

    mode = {"bilinear": v2.InterpolationMode.BILINEAR, "bicubic": v2.InterpolationMode.BICUBIC}[pre.interpolation]
    reference = v2.Compose([v2.Resize(pre.resize, interpolation=mode), v2.CenterCrop(pre.image_size), v2.ToImage(),
                            v2.ToDtype(torch.float32, scale=True), v2.Normalize(pre.mean, pre.std)])
    rng = np.random.default_rng(0)
    for height, width in [(256, 192), (192, 256), (224, 224), (97, 301), (333, 500), (31, 17)]:
        picture = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
        ours = eval_pixels(picture, pre)
        assert ours.shape == (3, pre.image_size, pre.image_size)
        assert np.abs(ours - reference(picture).numpy()).max() < 1e-6



def test_whole_picture_view_follows_the_crop_and_shows_the_ends_it_cuts_off():
    """With whole_picture the picture's second view is all of it, fitted into the square on white: a portrait
    picture's red top rows, which the centre crop cuts off, are there, with white margins left and right."""
    import dataclasses

    from PIL import Image

    pre = Preprocessing(resize=64, image_size=56, mean=[0.5] * 3, std=[0.5] * 3)
    picture = np.full((120, 90, 3), 40, np.uint8)
    picture[:6] = (255, 0, 0)
    image = Image.fromarray(picture)
    views = eval_pixels(image, dataclasses.replace(pre, whole_picture=True))
    assert views.shape == (2, 3, 56, 56)
    assert np.array_equal(views[0], eval_pixels(image, pre))
    crop, whole = views

    def red(view):
        return (view[0] > 0.9) & (view[1] < -0.9)  # R 255 and G 0, normalised to [-1, 1]

    assert not red(crop).any() and red(whole)[:3].any()
    margin = (56 - round(90 * 56 / 120)) // 2
    assert np.allclose(whole[:, :, :margin], 1.0) and np.allclose(whole[:, :, -margin:], 1.0)  # white
    assert eval_batch([image, image], dataclasses.replace(pre, whole_picture=True)).shape == (2, 2, 3, 56, 56)

def test_exported_models_answer_like_the_eager_network(tiny_data, tmp_path, fast_args, train):
    out = tmp_path / "run"
    assert train(fast_args(tiny_data, out)) == 0
    net, info = load_bundle_model(out / "bundle")
    pictures = [decode_image(sample.path) for sample in load_split(out / "split.json").samples[:12]]
    pixels = eval_batch(pictures, info.preprocessing)
    expected = eager_probabilities(net, pixels)
    for runtime in ("torchscript", "onnx"):
        for batch in (pixels[:1], pixels):  # the batch dimension stays dynamic
            got = probabilities(load_predictor(out / "bundle", info, runtime)(batch))  # exports: log-probabilities
            assert set(got) == set(expected) == {*info.tasks, *DESCRIPTORS}  # descriptors compared too
            assert all(np.allclose(np.linalg.norm(got[name], axis=1), 1, atol=1e-5) for name in DESCRIPTORS)
            assert got[COPY_EMBEDDING].shape == (len(batch), 256)  # GeM of simple_cnn's last map: its channels
            for name, value in got.items():
                assert np.abs(value - expected[name][: len(batch)]).max() < 1e-4, (runtime, name)


def test_tampered_export_is_refused(tiny_data, tmp_path, fast_args, train):
    out = tmp_path / "run"
    assert train(fast_args(tiny_data, out)) == 0
    with (out / "bundle" / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ShopLensError, match=r"model\.onnx"):
        read_bundle(out / "bundle")
