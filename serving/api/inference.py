"""The API's client for TorchServe: token from each instance's key_file.json, bounded
time, clear failures.

With several TorchServe instances, requests are spread round-robin and an instance that
fails is skipped for that request, so one instance stopping loses no request.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serving.api.config import Settings


class InferenceUnavailable(Exception):
    """No TorchServe instance answered in time without a server error."""


def read_token(key_file: Path | str, api: str) -> str:
    """The 'inference' or 'management' token from a TorchServe key_file.json (raises OSError,
    ValueError or KeyError while the file is missing or incomplete)."""
    with open(key_file, encoding="utf-8") as handle:
        return json.load(handle)[api]["key"]


@dataclass(frozen=True)
class Instance:
    inference_url: str
    management_url: str
    key_file: str

    def key(self, api: str) -> str:
        try:
            return read_token(self.key_file, api)
        except (OSError, ValueError, KeyError):
            return ""  # token authorisation off, or the file not written yet


def instances(settings: Settings) -> list[Instance]:
    lists = (settings.torchserve_urls, settings.management_urls, settings.key_files)
    if len({len(values) for values in lists}) != 1 or not lists[0]:
        raise ValueError("SHOPLENS_TORCHSERVE_URLS, _MANAGEMENT_URLS and _KEY_FILES need one entry per instance")
    return [Instance(*entry) for entry in zip(*lists, strict=True)]


class TorchServeClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.instances = instances(settings)
        self._version: tuple[float, str] | None = None
        self._turn = itertools.count()
        self._turn_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, settings.inference_concurrency),
                                        thread_name_prefix="inference")

    def _call(self, url: str, key: str, data: bytes | None = None) -> Any:
        request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                         headers={"Authorization": f"Bearer {key}",
                                                  "Content-Type": "application/octet-stream"})
        try:
            with urllib.request.urlopen(request, timeout=self.settings.inference_timeout) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise InferenceUnavailable(f"model server unavailable: {exc}") from None

    def _in_turn(self) -> list[Instance]:
        """The instances, starting from the next one in turn."""
        with self._turn_lock:
            start = next(self._turn) % len(self.instances)
        return self.instances[start:] + self.instances[:start]

    def _first_answer(self, api: str, path: str, data: bytes | None = None) -> Any:
        last: InferenceUnavailable | None = None
        for instance in self._in_turn():
            base = instance.inference_url if api == "inference" else instance.management_url
            try:
                return self._call(base + path, instance.key(api), data)
            except InferenceUnavailable as exc:
                last = exc
        raise last or InferenceUnavailable("no model server configured")

    def version(self) -> str:
        """The default model version, looked up at most once a second."""
        now = time.monotonic()
        if self._version is None or now - self._version[0] > 1.0:
            described = self._first_answer("management", f"/models/{self.settings.model_name}")
            self._version = (now, str(described[0]["modelVersion"]))
        return self._version[1]

    def versions(self) -> list[dict[str, Any]]:
        """Every registered version of the model, as TorchServe describes them."""
        return self._first_answer("management", f"/models/{self.settings.model_name}/all")

    def classify(self, picture: bytes) -> dict[str, Any]:
        return self._first_answer("inference", f"/predictions/{self.settings.model_name}", picture)

    def classify_many(self, pictures: list[bytes]) -> list[dict[str, Any]]:
        """Answers in order; sent concurrently so the model server can batch them."""
        if len(pictures) <= 1:
            return [self.classify(picture) for picture in pictures]
        return list(self._pool.map(self.classify, pictures))
