"""Turn a training bundle into a TorchServe ``.mar`` with torch-model-archiver.

The archive carries the whole bundle and a ``model-config.yaml`` (written as JSON, which
YAML reads) holding the model's serving settings: TorchServe applies batch size, batch
delay and workers when the model is registered without them, on whatever version the
archive has, and the handler reads its runtime and low-confidence margin from the
``handler`` section. The bundle's ``serving`` block gives the defaults; `archive`'s
overrides change them for this archive only.

The worker runs exported models only (``serving.worker.handler``): a bundle without the runtime's export
(the starter keeps its trained weights alone) is exported first, into a cached copy
(``network.export.exported_bundle``), and that copy is archived.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from shoplens import ShopLensError
from shoplens.bundle import EXPORTED_RUNTIMES, MANIFEST_NAME, ServingSettings, read_bundle

HANDLER = Path(__file__).resolve().parents[1] / "worker" / "handler.py"
CONFIG_NAME = "model-config.yaml"
DEFAULT_RECORD = "promoted-default.json"  # in the model store: the promoted version a restart serves again


def model_card(info_json: dict) -> str:
    metrics = json.dumps(info_json.get("metrics", {}), indent=2)
    return (f"# ShopLens model {info_json['arch']} {info_json['version']}\n\n"
            f"Trained layers: {info_json['trainable']}; labels: {json.dumps(info_json['tasks'])}\n\n"
            f"Data digest: {info_json['data_digest']}\n\nMetrics:\n\n```json\n{metrics}\n```\n")


def model_config(settings: ServingSettings) -> dict[str, Any]:
    """TorchServe's per-model configuration for these settings (frontend keys, and the handler's own)."""
    return {"minWorkers": settings.workers, "maxWorkers": settings.workers, "batchSize": settings.batch_size,
            "maxBatchDelay": settings.max_batch_delay_ms,
            "handler": {"runtime": settings.runtime, "low_confidence_margin": settings.low_confidence_margin,
                        "threads": settings.threads}}


def archive(bundle: Path, store: Path, name: str = "shoplens", **overrides: Any) -> Path:
    """Write STORE/NAME.mar (version from the bundle) and return its path.

    `overrides`: ServingSettings fields (runtime, batch_size, ...) that replace the bundle's for this archive.
    """
    info, _ = read_bundle(bundle)
    settings = dataclasses.replace(info.serving, **{k: v for k, v in overrides.items() if v is not None})
    bundle = servable(bundle, settings.runtime)
    info, weights = read_bundle(bundle)
    archiver = shutil.which("torch-model-archiver") or str(Path(sys.executable).with_name("torch-model-archiver"))
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as staging:
        card, config = Path(staging) / "MODEL_CARD.md", Path(staging) / CONFIG_NAME
        card.write_text(model_card(json.loads((bundle / MANIFEST_NAME).read_text())), encoding="utf-8")
        config.write_text(json.dumps(model_config(settings), indent=2) + "\n", encoding="utf-8")
        # the bundle's files land side by side in the model folder, as read_bundle expects
        extra = [bundle / MANIFEST_NAME, *(bundle / e["file"] for e in info.exports.values()), card]
        command = [archiver, "--model-name", name, "--version", info.version or "1", "--handler", str(HANDLER),
                   "--serialized-file", str(weights), "--extra-files", ",".join(map(str, extra)),
                   "--config-file", str(config), "--export-path", str(store), "--force"]
        # the archiver gathers files in TMPDIR/NAME: a private TMPDIR keeps concurrent archivers apart
        result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TMPDIR": staging})
    if result.returncode != 0:
        raise ShopLensError(f"torch-model-archiver failed: {result.stderr.strip() or result.stdout.strip()}")
    return store / f"{name}.mar"


def servable(bundle: Path, runtime: str) -> Path:
    """`bundle`, or its cached copy exported for `runtime` where it lacks that export."""
    if runtime not in EXPORTED_RUNTIMES:
        raise ShopLensError(f"TorchServe serves exported models: runtime {', '.join(EXPORTED_RUNTIMES)}, "
                            f"not {runtime!r}")
    if EXPORTED_RUNTIMES[runtime] in read_bundle(bundle)[0].exports:
        return bundle
    try:
        from network.export import exported_bundle  # torch and timm rebuild the network, here only
    except ImportError as exc:
        raise ShopLensError(f"{bundle} has no {runtime} export, and exporting it needs the network extra "
                            f"(pip install 'shoplens[network]'): {exc}") from None
    return exported_bundle(bundle, runtime)


def record_default(store: Path, model: str, version: str, mar: str) -> None:
    """Note in the model store which archive `shoplens-serve promote` made the default, so a
    TorchServe started again from this store serves it instead of the version it began with."""
    record = store / DEFAULT_RECORD
    staging = record.with_suffix(".tmp")
    staging.write_text(json.dumps({"model": model, "version": version, "mar": mar}))
    os.replace(staging, record)


def recorded_default(store: Path) -> dict[str, str] | None:
    """The promoted default noted in `store`, or None (none noted, or its archive is gone)."""
    try:
        record = json.loads((store / DEFAULT_RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if (store / record.get("mar", "")).is_file() else None


def forget_default(store: Path) -> None:
    (store / DEFAULT_RECORD).unlink(missing_ok=True)
