"""One time limit for a whole piece of work (a URL fetch with its redirects and body, an
inference call across instances and retries), not per socket operation: a peer that sends
one byte a second resets a socket timeout forever, a deadline it cannot move.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.end


@contextmanager
def cut_at(deadline: Deadline, sock: socket.socket) -> Iterator[None]:
    """While inside, `sock` is shut down when `deadline` passes, which ends any read or write
    blocked on it (a socket timeout would restart with each byte)."""

    def cut() -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed

    timer = threading.Timer(deadline.remaining(), cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
