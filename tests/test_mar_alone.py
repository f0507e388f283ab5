"""The .mar alone: a real TorchServe whose Python cannot import the network or training packages,
crawler, timm, torchvision or serving serves efficientnet_lite0 archives (TorchScript and ONNX)
and the starter's archive (exported to ONNX when archived) with the eager network's answers.

The blocking lives in a ``sitecustomize`` on the PYTHONPATH TorchServe hands its workers;
each process that installs it writes its command line to a log, so the test sees the
workers really ran under it. TorchServe loads the archives at start (``load_models``, as
the Docker image does), so batching comes from each archive's model-config.yaml.
"""

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from network.export import eager_outputs, eager_probabilities, export_models
from network.models import build_model, load_bundle_model
from serving.operations.archive import archive
from serving.operations.cli import STARTER_BUNDLE
from serving.operations.torchserve import TorchServe
from shoplens.bundle import BundleInfo, read_bundle, write_bundle
from shoplens.classifier import describe
from shoplens.imaging import decode_image, jpeg_bytes
from shoplens.preprocessing import eval_batch
from shoplens.sample import SHAPES, draw_garment

BLOCKED = ("network", "training", "crawler", "timm", "torchvision", "serving")
SITECUSTOMIZE = f'''
import os, sys

BLOCKED = {BLOCKED!r}


class Blocked:
    """Refuses the packages this environment must serve without."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{{name}} is not importable here", name=name)


sys.meta_path.insert(0, Blocked())
with open(os.environ["BLOCKED_IMPORTS_LOG"], "a") as log:
    log.write(" ".join(sys.argv) + "\\n")
'''
RUNTIMES = ("torchscript", "onnx", "openvino")
MODELS = (*(f"shoplens-{runtime}" for runtime in RUNTIMES), "shoplens-starter")
# never unsure, always unsure: shows the archive's margin is used
MARGINS = {"torchscript": 0.0, "onnx": 1.0, "openvino": 0.0}
TASKS = {"category": sorted(SHAPES), "colour": ["black", "blue", "red", "white"]}


class BlockedTorchServe(TorchServe):
    """TorchServe whose Python processes run the blocking sitecustomize, loading every .mar at start."""

    def __init__(self, store, workdir, site):
        super().__init__(store, workdir)
        self.site = site

    def _config(self):
        path = super()._config()
        path.write_text(path.read_text() + "load_models=" + ",".join(f"{model}.mar" for model in MODELS) + "\n")
        return path

    def environment(self):
        return {**super().environment(), "PYTHONPATH": str(self.site), "BLOCKED_IMPORTS_LOG": str(self.site / "log")}


@pytest.fixture(scope="module")
def lite0(tmp_path_factory):
    """An efficientnet_lite0 bundle (ImageNet backbone, seeded heads) and its eager network."""
    root = tmp_path_factory.mktemp("lite0")
    torch.manual_seed(0)
    net, pre = build_model("efficientnet_lite0", TASKS, "imagenet", "head")
    net.eval()
    torch.save(net.state_dict(), root / "weights.pt")
    info = BundleInfo(arch="efficientnet_lite0", trainable="head", dropout=0.5, tasks=TASKS, preprocessing=pre,
                      version="20260101000000")
    (root / "exports").mkdir()
    return write_bundle(root / "bundle", info, root / "weights.pt", export_models(net, pre, root / "exports")), net


@pytest.fixture(scope="module")
def blocked_torchserve(lite0, tmp_path_factory):
    bundle, _ = lite0
    root = tmp_path_factory.mktemp("blocked")
    for runtime in RUNTIMES:  # settings unlike the bundle's defaults, to see them arrive from the archive
        archive(bundle, root / "store", f"shoplens-{runtime}", runtime=runtime, batch_size=4, max_batch_delay_ms=7,
                low_confidence_margin=MARGINS[runtime])
    archive(STARTER_BUNDLE, root / "store", "shoplens-starter")  # no export in the bundle: archived as ONNX
    site = root / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    with BlockedTorchServe(root / "store", root / "work", site).start() as server:
        deadline = time.monotonic() + 120
        while not all(ready(server, model) for model in MODELS):
            assert time.monotonic() < deadline, (root / "work" / "torchserve.log").read_text()[-3000:]
            time.sleep(1)
        yield server, site


def described(server, model):
    status, body = server.request("management", "GET", f"/models/{model}")
    return json.loads(body)[0] if status == 200 else {}


def ready(server, model):
    return any(worker["status"] == "READY" for worker in described(server, model).get("workers", []))


def test_the_environment_really_lacks_the_training_package(blocked_torchserve):
    server, site = blocked_torchserve
    environment = {**os.environ, **server.environment()}
    for package in BLOCKED:
        result = subprocess.run([sys.executable, "-c", f"import {package}"], env=environment, capture_output=True)
        assert result.returncode != 0 and b"is not importable here" in result.stderr
    workers = [line for line in (site / "log").read_text().splitlines() if "model_service_worker" in line]
    assert len(workers) >= len(MODELS)  # every model's worker started under the blocker


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_archive_serves_the_eager_answers_without_training(blocked_torchserve, lite0, runtime):
    server, _ = blocked_torchserve
    bundle, net = lite0
    rng = random.Random(3)
    pictures = [jpeg_bytes(draw_garment(shape, colour, size, rng))
                for shape, colour, size in [("dress", "red", (192, 256)), ("shirt", "blue", (300, 200)),
                                            ("pants", "black", (224, 224)), ("dress", "white", (97, 301))]]
    pixels = eval_batch([decode_image(picture) for picture in pictures], read_bundle(bundle)[0].preprocessing)
    expected = eager_probabilities(net, pixels)
    worst = 0.0
    for index, picture in enumerate(pictures):
        status, body = server.request("inference", "POST", f"/predictions/shoplens-{runtime}", picture)
        assert status == 200, body
        answer = json.loads(body)
        for label in answer["labels"]:
            worst = max(worst, abs(label["probability"] - expected["category"][index][TASKS["category"].index(
                label["label"])]))
        colour = answer["colour"]
        worst = max(worst, abs(colour["probability"] - expected["colour"][index][TASKS["colour"].index(
            colour["label"])]))
        assert answer["category"] == TASKS["category"][int(expected["category"][index].argmax())]
        assert answer["low_confidence"] is (MARGINS[runtime] == 1.0)
    assert worst < 1e-4  # answers carry 4 decimals: rounding alone is up to 5e-5


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_batching_and_margin_come_from_the_archive(blocked_torchserve, runtime):
    server, _ = blocked_torchserve
    model = described(server, f"shoplens-{runtime}")
    assert model["modelVersion"] == "20260101000000"
    assert (model["batchSize"], model["maxBatchDelay"]) == (4, 7)


def photographs():
    """Real photographs: scikit-image's (no garments), and one validation picture a class of clothing-small."""
    import io

    import skimage.data
    from PIL import Image

    from shoplens.settings import CLOTHING_SMALL

    pictures = []
    for name in ("coffee", "chelsea", "astronaut"):
        encoded = io.BytesIO()
        Image.fromarray(getattr(skimage.data, name)()).save(encoded, "JPEG", quality=90)
        pictures.append(encoded.getvalue())
    validation = Path(__file__).resolve().parents[1] / CLOTHING_SMALL.read() / "validation"
    for folder in sorted(validation.iterdir()) if validation.is_dir() else []:
        pictures.append(sorted(folder.glob("*.jpg"))[0].read_bytes())
    return pictures


def test_starter_archive_serves_the_eager_answers_on_its_exported_runtime_alone(blocked_torchserve):
    """The starter keeps only its trained weights; its archive carries the ONNX export, which the blocked worker
    runs on the starter's runtime (OpenVINO): the same category, category set, garment verdict and calibrated
    probabilities as the network."""
    server, _ = blocked_torchserve
    net, info = load_bundle_model(STARTER_BUNDLE)
    assert "onnx" not in info.exports and described(server, "shoplens-starter")["modelVersion"] == info.version
    assert info.serving.runtime == "openvino"
    pictures = photographs()
    images = [decode_image(picture) for picture in pictures]
    outputs = eager_outputs(net, eval_batch(images, info.preprocessing))
    worst = 0.0
    for index, picture in enumerate(pictures):
        status, body = server.request("inference", "POST", "/predictions/shoplens-starter", picture, timeout=60)
        assert status == 200, body
        answer = json.loads(body)
        expected = describe({name: out[index] for name, out in outputs.items()}, info, images[index],
                            info.serving.low_confidence_margin)
        got, want = ((found["category"], found["garment"], [entry["label"] for entry in found["categories"]])
                     for found in (answer, expected))
        assert got == want
        worst = max(worst, *(abs(got["probability"] - want["probability"])
                             for got, want in zip(answer["labels"], expected["labels"], strict=True)))
    assert worst < 1e-4
