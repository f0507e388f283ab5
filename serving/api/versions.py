"""The model's default version, as the classify views need it: asked of TorchServe (at most
once a second, by the client), and while TorchServe cannot answer, the last one it gave,
so cached answers of that version are still served (degraded, and the response says so).

After a failed lookup TorchServe is not asked again for RETRY_AFTER seconds: requests
answered from the cache do not each wait for a dead or paused model server.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import redis

from serving.api.cache import AnswerCache
from serving.api.inference import InferenceUnavailable, TorchServeClient

RETRY_AFTER = 1.0


@dataclass(frozen=True)
class Version:
    name: str | None  # None: never learnt, so no cached answer can be found
    live: bool  # TorchServe answered; False: `name` is the last default version known
    reason: str = ""  # why TorchServe is not live


class DefaultVersion:
    def __init__(self, model: TorchServeClient, cache: AnswerCache) -> None:
        self.model, self.cache = model, cache
        self._known: str | None = None
        self._failed: tuple[float, str] | None = None  # (when, why) of the last failed lookup
        self._lock = threading.Lock()

    def current(self) -> Version:
        failed = self._failed
        if failed and time.monotonic() - failed[0] < RETRY_AFTER:
            return Version(self._last_known(), False, failed[1])
        try:
            name = self.model.version()
        except InferenceUnavailable as exc:
            self._failed = (time.monotonic(), str(exc))
            return Version(self._last_known(), False, str(exc))
        self._failed = None
        self._remember(name)
        return Version(name, True)

    def _remember(self, name: str) -> None:
        with self._lock:
            if name == self._known:
                return
            self._known = name
        try:
            self.cache.remember_version(name)  # other workers and restarts find it while TorchServe is down
        except redis.RedisError:
            pass  # only the degraded mode of other processes loses it

    def _last_known(self) -> str | None:
        if self._known is None:
            try:
                self._known = self.cache.last_version()
            except redis.RedisError:
                return None
        return self._known
