"""The .mar alone: a real TorchServe whose Python cannot import training, crawler, timm,
torchvision or serving serves efficientnet_lite0 archives (TorchScript and ONNX) with the
eager network's answers.

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

import pytest
import torch

from serving.archive import archive
from serving.torchserve import TorchServe
from shoplens.bundle import BundleInfo, read_bundle, write_bundle
from shoplens.imaging import decode_image
from shoplens.preprocessing import eval_batch
from shoplens.sample import SHAPES, draw_garment, jpeg_bytes
from training.export import eager_probabilities, export_models
from training.models import build_model

BLOCKED = ("training", "crawler", "timm", "torchvision", "serving")
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
RUNTIMES = ("torchscript", "onnx")
MARGINS = {"torchscript": 0.0, "onnx": 1.0}  # never unsure, always unsure: shows the archive's margin is used
TASKS = {"category": sorted(SHAPES), "colour": ["black", "blue", "red", "white"]}


class BlockedTorchServe(TorchServe):
    """TorchServe whose Python processes run the blocking sitecustomize, loading every .mar at start."""

    def __init__(self, store, workdir, site):
        super().__init__(store, workdir)
        self.site = site

    def _config(self):
        path = super()._config()
        path.write_text(path.read_text() + "load_models=" + ",".join(f"shoplens-{r}.mar" for r in RUNTIMES) + "\n")
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
    site = root / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    with BlockedTorchServe(root / "store", root / "work", site).start() as server:
        deadline = time.monotonic() + 120
        while not all(ready(server, runtime) for runtime in RUNTIMES):
            assert time.monotonic() < deadline, (root / "work" / "torchserve.log").read_text()[-3000:]
            time.sleep(1)
        yield server, site


def described(server, runtime):
    status, body = server.request("management", "GET", f"/models/shoplens-{runtime}")
    return json.loads(body)[0] if status == 200 else {}


def ready(server, runtime):
    return any(worker["status"] == "READY" for worker in described(server, runtime).get("workers", []))


def test_the_environment_really_lacks_the_training_package(blocked_torchserve):
    server, site = blocked_torchserve
    environment = {**os.environ, **server.environment()}
    for package in BLOCKED:
        result = subprocess.run([sys.executable, "-c", f"import {package}"], env=environment, capture_output=True)
        assert result.returncode != 0 and b"is not importable here" in result.stderr
    workers = [line for line in (site / "log").read_text().splitlines() if "model_service_worker" in line]
    assert len(workers) >= len(RUNTIMES)  # every model's worker started under the blocker


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
    model = described(server, runtime)
    assert model["modelVersion"] == "20260101000000"
    assert (model["batchSize"], model["maxBatchDelay"]) == (4, 7)
