"""Local processes of the serving stack — redis-server, TorchServe (`serving.operations.torchserve`)
and the gunicorn-run API — started on loopback, waited for, supervised (a part that dies is
started again, a TorchServe with its model registered again) and stopped with everything
under them. Tests, benchmarks and the main job all start them here.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from serving.operations.archive import archive, forget_default, recorded_default
from serving.operations.torchserve import TorchServe
from shoplens import ShopLensError, settings
from shoplens.processes import LocalProcess, executable, free_port

ROOT = Path(__file__).resolve().parents[2]


class RedisServer(LocalProcess):
    """redis-server on loopback without persistence (a cache, nothing to keep)."""

    name = "redis-server"

    def __init__(self, folder: Path, port: int | None = None, log: Path | None = None) -> None:
        super().__init__(log)
        self.folder, self.port = folder, port or free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        self.folder.mkdir(parents=True, exist_ok=True)
        return [executable("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.folder)]

    def ready(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")


class ApiServer(LocalProcess):
    """The Flask API under gunicorn (serving/api/gunicorn.conf.py), configured by SHOPLENS_* variables."""

    name = "the ShopLens API"

    def __init__(self, settings: dict[str, str], port: int | None = None, log: Path | None = None) -> None:
        super().__init__(log, cwd=ROOT)
        self.settings, self.port = settings, port or free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        config = ROOT / "serving" / "api" / "gunicorn.conf.py"
        return [executable("gunicorn"), "-c", str(config), "serving.api:create_app()"]

    def environment(self) -> dict[str, str]:
        return {**os.environ, **settings.environment({settings.BIND: f"127.0.0.1:{self.port}"}), **self.settings}

    def ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as response:
            return response.status == 200


def api_environment(torchserves: list[TorchServe], redis_url: str, api_keys: list[str],
                    cors_origins: tuple[str, ...] = ()) -> dict[str, str]:
    """The SHOPLENS_* settings of an API in front of these TorchServes and this Redis."""
    return settings.environment({settings.TORCHSERVE_URLS: [ts.inference_url for ts in torchserves],
                                 settings.TORCHSERVE_MANAGEMENT_URLS: [ts.management_url for ts in torchserves],
                                 settings.TORCHSERVE_KEY_FILES: [ts.key_file for ts in torchserves],
                                 settings.REDIS_URL: redis_url, settings.API_KEYS: api_keys,
                                 settings.CORS_ORIGINS: cors_origins})


def register_served(server: TorchServe, mar: str) -> str:
    """Register `mar` from the server's model store and, where `shoplens-serve promote` noted a
    promoted default there, that archive too as the default; returns what it registered."""
    server.register(mar)  # batching and workers as the archive says
    promoted = recorded_default(server.store)
    if not promoted or promoted["mar"] == mar:
        return mar
    server.register(promoted["mar"])
    server.set_default(promoted["model"], promoted["version"])
    return f"{mar} and the promoted default {promoted['mar']}"


class Stack:
    """redis-server, `instances` TorchServes serving the bundle, and the API in front, all on loopback.

    Everything lives under `workdir` (model store, TorchServe folders, logs). `start` either
    returns with every part answering or stops what it started and raises.
    """

    def __init__(self, bundle: Path, workdir: Path, api_keys: list[str], cors_origins: tuple[str, ...] = (),
                 instances: int = 1, api_port: int | None = None, api_environment: dict[str, str] | None = None,
                 model_settings: dict[str, Any] | None = None, token_expiration_min: int | None = None) -> None:
        """`api_environment`: more SHOPLENS_* settings for the API (declared in shoplens/settings.py);
        `model_settings`: serving settings of the archive (serving.operations.archive.archive's overrides);
        `token_expiration_min`: TorchServe's key lifetime (its default: 60)."""
        self.bundle, self.workdir = bundle, workdir.resolve()
        self.token_expiration_min = token_expiration_min
        self.api_keys, self.cors_origins = list(api_keys), list(cors_origins)
        self.instances, self.model_settings = instances, dict(model_settings or {})
        self.api_port, self.api_environment = api_port, dict(api_environment or {})
        self.parts: list[LocalProcess] = []

    def start(self) -> Stack:
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        try:
            self.mar = archive(self.bundle, self.workdir / "model-store", **self.model_settings)
            forget_default(self.mar.parent)  # a fresh stack serves the bundle it was given
            self.redis = self._started(RedisServer(self.workdir / "redis", log=logs / "redis.log"))
            self.torchserves = [self._started(TorchServe(self.mar.parent, self.workdir / f"torchserve-{index}",
                                                         token_expiration_min=self.token_expiration_min))
                                for index in range(self.instances)]
            for server in self.torchserves:
                self._register(server)
            self.api = self._started(ApiServer(self.api_settings(), self.api_port, log=logs / "api.log"))
        except BaseException:
            self.stop()
            raise
        return self

    def _started(self, part: LocalProcess) -> LocalProcess:
        self.parts.append(part)
        return part.start()

    def _register(self, server: TorchServe) -> str:
        return register_served(server, self.mar.name)

    def revive_dead(self, say: Callable[[str], None]) -> None:
        """Starts again every part whose process has ended (a TorchServe with its model registered
        again), on the same port and folder, and says so; one that fails to start is tried next time."""
        for part in list(self.parts):
            if part.process is not None and part.process.poll() is None:
                continue
            label = f"{part.name} ({part.inference_url})" if isinstance(part, TorchServe) else part.name
            ended = f"exited with {part.process.returncode}" if part.process is not None else "not running"
            started = time.monotonic()
            try:
                part.stop()  # whatever is left of its process group
                part.start()
                served = self._register(part) if isinstance(part, TorchServe) else ""
            except (ShopLensError, OSError) as exc:
                say(f"{label} {ended}; starting it again failed, trying again: {exc}")
                part.stop()
                continue
            again = f", model {served} registered again" if served else ""
            say(f"{label} {ended}: started again{again} in {time.monotonic() - started:.1f} s")

    def supervise(self, say: Callable[[str], None] = print, stop: threading.Event | None = None,
                  interval: float = 1.0) -> None:
        """Until `stop` is set (or for ever): every `interval` s, parts that died are started again.
        A paused part (SIGSTOP) is alive and left alone: it answers again once continued."""
        stop = stop or threading.Event()
        while not stop.wait(interval):
            self.revive_dead(say)

    def api_settings(self) -> dict[str, str]:
        """The API's settings: in front of this stack, its access log and (unless the environment names
        them) its corrections database and picture store in the stack's folder."""
        corrections = {settings.DATABASE_URL: f"sqlite:///{self.workdir / 'corrections' / 'corrections.sqlite3'}",
                       settings.PICTURE_STORE: self.workdir / "corrections" / "pictures"}
        return {**api_environment(self.torchserves, self.redis.url, self.api_keys, self.cors_origins),
                **settings.environment({settings.ACCESS_LOG: self.workdir / "logs" / "api-access.log",
                                        **{setting: value for setting, value in corrections.items()
                                           if setting.name not in os.environ}}),
                **self.api_environment}

    def pids(self) -> list[int]:
        """The process-group leaders of the running parts, in start order."""
        return [part.process.pid for part in self.parts if part.process is not None]

    def stop(self) -> None:
        """Stops every part started, the API first."""
        for part in reversed(self.parts):
            part.stop()
        self.parts = []

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
