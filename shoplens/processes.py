"""Local server processes: free loopback ports, executables of the environment, a server
process in its own process group that is waited for and stopped with everything under it.
The crawler's test shop, the serving stack, the main job and the tests all start theirs here.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shoplens import ShopLensError


def wait_for(check: Callable[[], Any], timeout: float, what: str, process: Any = None) -> Any:
    """`check()`'s first truthy value, polled for at most `timeout` seconds. An OSError from
    `check` counts as not yet (a server still starting); a `process` (Popen) that exits meanwhile
    ends the wait at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ShopLensError(f"gave up waiting for {what}: the process exited with {process.returncode}")
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise ShopLensError(f"timed out after {timeout:.0f} s waiting for {what}")


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def executable(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(found).exists():
        raise ShopLensError(f"{name} is not installed: run scripts/setup.sh")
    return found


class LocalProcess:
    """A server process in its own process group, ready once `ready()` says so."""

    name = "process"
    stop_timeout = 15.0  # seconds between SIGTERM and SIGKILL

    def __init__(self, log: Path | None = None, cwd: Path | None = None) -> None:
        """`log`: a file for its output (else discarded); `cwd`: its working folder (else ours)."""
        self.process: subprocess.Popen | None = None
        self.log, self.cwd = log, cwd

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self, timeout: float = 30) -> LocalProcess:
        output = self.log.open("ab") if self.log else subprocess.DEVNULL
        self.process = subprocess.Popen(self.command(), cwd=self.cwd, env=self.environment(), stdout=output,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for(self.ready, timeout, f"{self.name} to answer" + (f" (log: {self.log})" if self.log else ""),
                     self.process)
        except ShopLensError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process.pid, self.process, self.stop_timeout)
        self.process = None

    def __enter__(self) -> LocalProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_process_group(pid: int, process: subprocess.Popen | None = None, timeout: float = 15) -> None:
    """SIGTERM the process group led by `pid`, SIGKILL what is left after `timeout`; returns once
    the whole group is gone, so its ports are free again. `process`: our child, to reap."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process is not None:
                process.poll()
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
