"""Starting, registering with and stopping a local TorchServe (tests, demo, operators).

TorchServe runs in its own working folder, where it writes ``key_file.json`` with the
inference and management tokens; `TorchServe` reads them so callers can authenticate.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from serving.api.deadline import Deadline
from serving.api.inference import InferenceUnavailable, Instance, send
from shoplens import ShopLensError
from shoplens.processes import LocalProcess, executable, free_port

CONFIG_TEMPLATE = Path(__file__).with_name("config.properties")
BIND_ATTEMPTS = 3  # first starts whose freshly chosen ports another process took first


class TorchServe(LocalProcess):
    """One TorchServe, run in its own working folder (config, key_file.json, logs)."""

    name = "torchserve"
    stop_timeout = 30.0

    def __init__(self, store: Path, workdir: Path, ports: tuple[int, int, int] | None = None,
                 grpc_ports: tuple[int, int] | None = None, token_expiration_min: int | None = None) -> None:
        """Ports (inference, management, metrics) and gRPC ports are free loopback ports unless given;
        `token_expiration_min`: the keys' lifetime (TorchServe's default: 60)."""
        self.store, self.workdir = store.resolve(), workdir.resolve()
        self.token_expiration_min = token_expiration_min
        super().__init__(log=self.workdir / "torchserve.log", cwd=self.workdir)  # key_file.json lands in cwd
        self.ports = ports or (free_port(), free_port(), free_port())
        self.grpc_ports = grpc_ports or (free_port(), free_port())
        self.own_ports = ports is None and grpc_ports is None  # chosen here: others may be chosen instead
        self.started = False
        # TorchServe keeps its pid file in the temporary folder: one folder per instance lets
        # several run side by side.
        self.temporary = self.workdir / "tmp"

    @property
    def key_file(self) -> Path:
        return self.workdir / "key_file.json"

    @property
    def inference_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[1]}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[2]}"

    def _config(self) -> Path:
        text = CONFIG_TEMPLATE.read_text(encoding="utf-8")
        for default, port in zip((8080, 8081, 8082), self.ports, strict=True):
            text = text.replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}")
        text = re.sub(r"(?m)^model_store=.*$", f"model_store={self.store}", text)
        text = re.sub(r"(?m)^grpc_inference_port=.*$", f"grpc_inference_port={self.grpc_ports[0]}", text)
        text = re.sub(r"(?m)^grpc_management_port=.*$", f"grpc_management_port={self.grpc_ports[1]}", text)
        if self.token_expiration_min is not None:
            text += f"token_expiration_min={self.token_expiration_min}\n"
        path = self.workdir / "config.properties"
        path.write_text(text, encoding="utf-8")
        return path

    def key(self, api: str, timeout: float = 10) -> str:
        """The current token for 'inference' or 'management', renewed when it is about to expire."""
        try:
            key = Instance(self.inference_url, self.management_url, str(self.key_file)).key(api, Deadline(timeout))
        except InferenceUnavailable as exc:
            raise OSError(str(exc)) from None
        if not key:
            raise OSError("no key_file.json yet")  # TorchServe is still starting
        return key

    def request(self, api: str, method: str, path: str, data: bytes | None = None,
                content_type: str = "application/octet-stream", timeout: float = 30) -> tuple[int, bytes]:
        self.key(api)  # no key file yet: still starting (OSError)
        instance = Instance(self.inference_url, self.management_url, str(self.key_file))
        try:
            return send(instance, api, method, path, data, content_type, timeout)
        except InferenceUnavailable as exc:
            raise OSError(str(exc)) from None

    def command(self) -> list[str]:
        return [executable("torchserve"), "--start", "--foreground", "--ncs", "--ts-config", str(self._config()),
                "--model-store", str(self.store)]

    def environment(self) -> dict[str, str]:
        return {**os.environ, "TMPDIR": str(self.temporary), "TEMP": str(self.temporary)}

    def ready(self) -> bool:
        return self.request("inference", "GET", "/ping", timeout=2)[0] == 200

    def start(self, timeout: float = 90) -> TorchServe:
        """Starts it; on its first start, ports of its own that another process took between
        choosing and binding them (free_port's race) are chosen again, BIND_ATTEMPTS times."""
        attempt = 1
        while True:
            self.temporary.mkdir(parents=True, exist_ok=True)
            (self.temporary / ".model_server.pid").unlink(missing_ok=True)  # left by a stopped instance of ours
            logged = self.log.stat().st_size if self.log.exists() else 0
            try:
                super().start(timeout)
            except ShopLensError:
                if self.started or not self.own_ports or attempt == BIND_ATTEMPTS or not self._bind_failed(logged):
                    raise
                self.ports = (free_port(), free_port(), free_port())
                self.grpc_ports = (free_port(), free_port())
                attempt += 1
                continue
            self.started = True
            return self

    def _bind_failed(self, since: int) -> bool:
        """Whether its log, past byte `since`, says a port was taken."""
        with self.log.open("rb") as handle:
            handle.seek(since)
            return b"Address already in use" in handle.read()

    def register(self, mar: str, batch_size: int | None = None, max_batch_delay_ms: int | None = None,
                 workers: int | None = None) -> dict:
        """Register STORE/MAR and wait for its workers.

        Batch size, batch delay and workers come from the archive's model-config.yaml
        (serving.operations.archive) unless given here.
        """
        given = {"batch_size": batch_size, "max_batch_delay": max_batch_delay_ms, "initial_workers": workers}
        query = f"/models?url={mar}&synchronous=true" + "".join(f"&{k}={v}" for k, v in given.items() if v is not None)
        status, body = self.request("management", "POST", query, timeout=120)
        if status != 200:
            raise ShopLensError(f"registering {mar} failed ({status}): {body.decode(errors='replace')}")
        return json.loads(body)

    def set_default(self, model: str, version: str) -> None:
        status, body = self.request("management", "PUT", f"/models/{model}/{version}/set-default")
        if status != 200:
            raise ShopLensError(f"making {model} {version} the default failed ({status}): "
                                f"{body.decode(errors='replace')}")
