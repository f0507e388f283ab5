"""Code shared by ShopLens's crawler, training and serving packages.

Kept deliberately small: image decoding with safety limits (`imaging`), the label and
colour vocabulary (`vocab`), the data manifest (`manifest`), the model-bundle format
(`bundle`), the garment pictures the project draws for samples and tests (`sample`) and how
commands report errors (`cli`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__version__ = "0.1.0"


class ShopLensError(Exception):
    """A user-facing failure: its message is printed as one line and the command exits non-zero."""


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
