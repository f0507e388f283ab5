"""Running the training CLI on tiny data, in-process and as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT


def fast_args(data: Path, out: Path, *extra: str) -> list[str]:
    """A from-scratch simple_cnn run on 32-pixel inputs: seconds on a CPU."""
    return ["train", "--data", str(data), "--out", str(out), "--arch", "simple_cnn", "--weights", "none",
            "--image-size", "32", "--epochs", "2", "--batch-size", "8", "--workers", "0",
            "--patience", "10", "--feature-cache", "", *extra]


def read_metrics(out: Path) -> dict:
    """A training run's OUT/metrics.json."""
    return json.loads((out / "metrics.json").read_text())


def run_module(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m training ARGV` in a fresh process, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "training", *argv], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)
