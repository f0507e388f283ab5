"""The main job end to end (`shoplens demo`), as a user runs it: the shop, crawl, training,
TorchServe + API + redis-server, the extension in headless Chromium. The first test tells the
whole story on the demo shop of real photographs; the others run on the drawn shop, faster."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from crawler.demoshop import DemoCatalogue
from crawler.testshop import Catalogue

CATEGORIES, COLOURS = ["dress", "shirt", "pants"], ["red", "blue"]
SMALL = ["--shop", "drawn", "--categories", ",".join(CATEGORIES), "--colours", ",".join(COLOURS), "--per-label", "4",
         "--epochs", "10"]


@pytest.fixture()
def shoplens(root):
    """shoplens(*argv): `python -m mainjob ARGV` in a fresh process, as a user runs it."""
    def run(*argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mainjob", *argv], cwd=root, capture_output=True, text=True,
                              timeout=timeout)
    return run


def similar_lines(stdout: str) -> tuple[str, list[list[str]]]:
    lines = stdout.splitlines()
    asked = next(index for index, line in enumerate(lines) if line.strip().startswith("more like "))
    return lines[asked], [line.split() for line in lines[asked + 1:asked + 4]]  # top 3: similarity, page, labels


def test_main_job_once_tells_the_whole_story_on_real_photographs(tmp_path, shoplens):
    out = tmp_path / "main"
    result = shoplens("demo", "--once", "--out", str(out), "--epochs", "10", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for stage in range(1, 8):
        assert f"[{stage}/7]" in result.stdout
    truth = DemoCatalogue.load().truth()
    labels = json.loads((out / "labels.json").read_text())
    assert set(labels) <= set(truth) and len(labels) >= 0.9 * len(truth), sorted(set(truth) - set(labels))
    right = sum(text.split(" · ")[0] == truth[name][0] for name, (text, _) in labels.items())
    assert right >= 0.8 * len(labels)  # the starter, on photographs of its own training split
    assert "95 % t CI" in result.stdout
    assert "3 of 3 pictures that are no garment got no badge" in result.stdout  # banner, wordmark, café scene
    assert "McNemar's exact test" in result.stdout and ("promoted:" in result.stdout or "refused:" in result.stdout)
    asked, similar = similar_lines(result.stdout)
    assert len(similar) == 3 and similar[0][:2] == ["1.0000", asked.split()[2]]
    assert "in the review queue as item" in result.stdout
    for path in ("model/report/index.html", "model/metrics.json", "model/bundle/bundle.json", "shop-labelled.png"):
        assert (out / path).is_file(), path
    assert not (out / "stack.json").exists()  # --once stopped everything


def test_main_job_on_the_drawn_shop_labels_every_product(tmp_path, shoplens):
    out = tmp_path / "main"
    first = shoplens("demo", "--out", str(out), *SMALL)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    listed = Catalogue.build(CATEGORIES, COLOURS, per_label=4).listed()
    usable = {p.id for p in listed if p.kind not in ("broken", "not_an_image")}
    labels = json.loads((out / "labels.json").read_text())
    assert set(labels) == usable
    assert all(text.split(" · ")[0] in CATEGORIES and text.split(" · ")[1] in COLOURS for text, _ in labels.values())
    asked, similar = similar_lines(first.stdout)
    assert len(similar) == 3 and similar[0][:2] == ["1.0000", asked.split()[2]]
    metrics = json.loads((out / "model" / "metrics.json").read_text())
    assert metrics["evaluations"]["test"]["category"]["n"] > 0
    # left running, then stopped by a second run of it
    record = json.loads((out / "stack.json").read_text())
    assert "shoplens stop" in first.stdout
    with urllib.request.urlopen(record["api"] + "/readyz", timeout=5) as response:
        assert response.status == 200
    second = shoplens("demo", "--out", str(out), "--once", *SMALL)  # stops the first stack, runs again
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "stopped the stack an earlier run left running" in second.stdout
    with pytest.raises(OSError):
        urllib.request.urlopen(record["api"] + "/healthz", timeout=2)
    assert shoplens("stop", "--out", str(out)).stdout.startswith("nothing running")


def test_a_failing_stage_says_which_and_stops_what_it_started(tmp_path, shoplens):
    out = tmp_path / "main"
    result = shoplens("demo", "--once", "--out", str(out), *SMALL, "--weights", str(tmp_path / "missing.pt"))
    assert result.returncode == 2
    assert result.stderr.startswith("error: stage 3 (train and evaluate) failed")
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (out / "stack.json").exists()
    shop_log = (out / "logs" / "shop.log").read_text()
    url = shop_log.split("test shop at ")[1].split()[0]
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/", timeout=2)  # the shop it had started is gone
