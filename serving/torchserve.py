"""Starting, registering with and stopping a local TorchServe (tests, demo, operators).

TorchServe runs in its own working folder, where it writes ``key_file.json`` with the
inference and management tokens; `TorchServe` reads them so callers can authenticate.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from serving.stack import free_port, stop_process_group, wait_until
from shoplens import ShopLensError

CONFIG_TEMPLATE = Path(__file__).with_name("config.properties")


class TorchServe:
    def __init__(self, store: Path, workdir: Path, ports: tuple[int, int, int] | None = None,
                 grpc_ports: tuple[int, int] | None = None) -> None:
        """Ports (inference, management, metrics) and gRPC ports are free loopback ports unless given."""
        self.store, self.workdir = store.resolve(), workdir.resolve()
        self.ports = ports or (free_port(), free_port(), free_port())
        self.grpc_ports = grpc_ports or (free_port(), free_port())
        self.process: subprocess.Popen | None = None

    @property
    def inference_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[0]}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.ports[1]}"

    def _config(self) -> Path:
        text = CONFIG_TEMPLATE.read_text(encoding="utf-8")
        for default, port in zip((8080, 8081, 8082), self.ports, strict=True):
            text = text.replace(f"127.0.0.1:{default}", f"127.0.0.1:{port}")
        text = re.sub(r"(?m)^model_store=.*$", f"model_store={self.store}", text)
        text = re.sub(r"(?m)^grpc_inference_port=.*$", f"grpc_inference_port={self.grpc_ports[0]}", text)
        text = re.sub(r"(?m)^grpc_management_port=.*$", f"grpc_management_port={self.grpc_ports[1]}", text)
        path = self.workdir / "config.properties"
        path.write_text(text, encoding="utf-8")
        return path

    def key(self, api: str) -> str:
        """The current token for 'inference' or 'management'."""
        return json.loads((self.workdir / "key_file.json").read_text())[api]["key"]

    def request(self, api: str, method: str, path: str, data: bytes | None = None,
                content_type: str = "application/octet-stream", timeout: float = 30) -> tuple[int, bytes]:
        base = self.inference_url if api == "inference" else self.management_url
        try:
            key = self.key(api)
        except (OSError, ValueError, KeyError):
            raise OSError("no key_file.json yet") from None  # TorchServe is still starting
        request = urllib.request.Request(base + path, data=data, method=method,
                                         headers={"Authorization": f"Bearer {key}", "Content-Type": content_type})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def start(self, timeout: float = 90) -> TorchServe:
        self.workdir.mkdir(parents=True, exist_ok=True)
        binary = shutil.which("torchserve") or str(Path(sys.executable).with_name("torchserve"))
        log = (self.workdir / "torchserve.log").open("ab")
        # TorchServe keeps its pid file in the temporary folder: one folder per instance lets
        # several run side by side.
        temporary = self.workdir / "tmp"
        temporary.mkdir(exist_ok=True)
        (temporary / ".model_server.pid").unlink(missing_ok=True)  # left by a stopped instance of ours
        self.process = subprocess.Popen([binary, "--start", "--foreground", "--ncs", "--ts-config",
                                         str(self._config()), "--model-store", str(self.store)],
                                        cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "TMPDIR": str(temporary), "TEMP": str(temporary)},
                                        start_new_session=True)  # its Java child is stopped with it
        try:
            wait_until(lambda: self.request("inference", "GET", "/ping", timeout=2)[0] == 200, timeout,
                       f"torchserve to answer /ping (log: {self.workdir / 'torchserve.log'})", self.process)
        except ShopLensError:
            self.stop()
            raise
        return self

    def register(self, mar: str, batch_size: int = 8, max_batch_delay_ms: int = 20, workers: int = 1) -> dict:
        """Register STORE/MAR with dynamic batching and wait for its workers."""
        query = (f"/models?url={mar}&batch_size={batch_size}&max_batch_delay={max_batch_delay_ms}"
                 f"&initial_workers={workers}&synchronous=true")
        status, body = self.request("management", "POST", query, timeout=120)
        if status != 200:
            raise ShopLensError(f"registering {mar} failed ({status}): {body.decode(errors='replace')}")
        return json.loads(body)

    def stop(self) -> None:
        """Stop the launcher and the Java server under it (the whole process group)."""
        if self.process is not None:
            stop_process_group(self.process.pid, self.process, timeout=30)
        self.process = None
