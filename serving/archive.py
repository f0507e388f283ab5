"""Turn a training bundle into a TorchServe ``.mar`` with torch-model-archiver."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from shoplens import ShopLensError
from shoplens.bundle import MANIFEST_NAME, read_bundle

HANDLER = Path(__file__).with_name("handler.py")


def model_card(info_json: dict) -> str:
    metrics = json.dumps(info_json.get("metrics", {}), indent=2)
    return (f"# ShopLens model {info_json['arch']} {info_json['version']}\n\n"
            f"Trained layers: {info_json['trainable']}; labels: {json.dumps(info_json['tasks'])}\n\n"
            f"Data digest: {info_json['data_digest']}\n\nMetrics:\n\n```json\n{metrics}\n```\n")


def archive(bundle: Path, store: Path, name: str = "shoplens") -> Path:
    """Write STORE/NAME.mar (version from the bundle) and return its path."""
    info, weights = read_bundle(bundle)
    archiver = shutil.which("torch-model-archiver") or str(Path(sys.executable).with_name("torch-model-archiver"))
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging:
        card = Path(staging) / "MODEL_CARD.md"
        card.write_text(model_card(json.loads((bundle / MANIFEST_NAME).read_text())), encoding="utf-8")
        # weights.pt and bundle.json land side by side in the model folder, as read_bundle expects
        command = [archiver, "--model-name", name, "--version", info.version or "1", "--handler", str(HANDLER),
                   "--serialized-file", str(weights), "--extra-files", f"{bundle / MANIFEST_NAME},{card}",
                   "--export-path", str(store), "--force"]
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ShopLensError(f"torch-model-archiver failed: {result.stderr.strip() or result.stdout.strip()}")
    return store / f"{name}.mar"
