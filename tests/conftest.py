"""Shared fixtures: tiny drawn datasets and a helper that runs the training CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from serving.archive import archive
from serving.stack import RedisServer, api_environment
from serving.torchserve import TorchServe
from shoplens.sample import draw_garment, write_sample
from training.cli import main as training_main

ROOT = Path(__file__).resolve().parents[1]
TINY_CATEGORIES = ["dress", "shirt", "pants"]
TINY_COLOURS = ["red", "blue"]


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 categories x 2 colours x 8 drawn pictures (48x64), the shape the crawler writes."""
    root = tmp_path_factory.mktemp("tiny")
    write_sample(root, TINY_CATEGORIES, TINY_COLOURS, per_label=8, size=(48, 64), seed=1)
    return root


@pytest.fixture()
def data_copy(tiny_data: Path, tmp_path: Path) -> Path:
    """A private copy of tiny_data that a test may damage."""
    import shutil

    return Path(shutil.copytree(tiny_data, tmp_path / "data"))


def fast_args(data: Path, out: Path, *extra: str) -> list[str]:
    """A from-scratch simple_cnn run on 32-pixel inputs: seconds on a CPU."""
    return ["train", "--data", str(data), "--out", str(out), "--arch", "simple_cnn", "--weights", "none",
            "--image-size", "32", "--epochs", "2", "--batch-size", "8", "--workers", "0",
            "--patience", "10", "--feature-cache", "", *extra]


def train(argv: list[str]) -> int:
    return training_main(argv)


def read_metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def run_module(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m training ARGV` in a fresh process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "training", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def drawn(category: str = "dress", colour: str = "red", seed: int = 0, size: tuple[int, int] = (96, 128)):
    return draw_garment(category, colour, size, random.Random(seed))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """A real redis-server on loopback for the session; yields its URL."""
    with RedisServer(tmp_path_factory.mktemp("redis")).start(timeout=15) as server:
        yield server.url


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path):
    """A real TorchServe serving a bundle trained on tiny_data; yields (server, bundle.json)."""
    root = tmp_path_factory.mktemp("torchserve")
    assert train(fast_args(tiny_data, root / "run")) == 0
    mar = archive(root / "run" / "bundle", root / "store")
    server = TorchServe(root / "store", root / "work").start()
    try:
        server.register(mar.name, batch_size=4, max_batch_delay_ms=10)
        yield server, json.loads((root / "run" / "bundle" / "bundle.json").read_text())
    finally:
        server.stop()


API_KEY = "test-key"


def api_settings(server: TorchServe, redis_url: str) -> dict[str, str]:
    """SHOPLENS_* variables for an API in front of `server` and `redis_url`."""
    return {**api_environment([server], redis_url, [API_KEY]), "SHOPLENS_ACCESS_LOG": "/dev/null"}
