"""The API's client for TorchServe: token from key_file.json, bounded time, clear failures."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from serving.api.config import Settings


class InferenceUnavailable(Exception):
    """TorchServe did not answer in time or answered with a server error."""


class TorchServeClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._version: tuple[float, str] | None = None

    def _key(self, api: str) -> str:
        try:
            with open(self.settings.key_file, encoding="utf-8") as handle:
                return json.load(handle)[api]["key"]
        except (OSError, ValueError, KeyError):
            return ""  # token authorisation off, or the file not written yet

    def _call(self, url: str, api: str, data: bytes | None = None) -> Any:
        request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                         headers={"Authorization": f"Bearer {self._key(api)}",
                                                  "Content-Type": "application/octet-stream"})
        try:
            with urllib.request.urlopen(request, timeout=self.settings.inference_timeout) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
            raise InferenceUnavailable(f"model server unavailable: {exc}") from None

    def version(self) -> str:
        """The default model version, looked up at most once a second."""
        now = time.monotonic()
        if self._version is None or now - self._version[0] > 1.0:
            described = self._call(f"{self.settings.management_url}/models/{self.settings.model_name}", "management")
            self._version = (now, str(described[0]["modelVersion"]))
        return self._version[1]

    def versions(self) -> list[dict[str, Any]]:
        """Every registered version of the model, as TorchServe describes them."""
        return self._call(f"{self.settings.management_url}/models/{self.settings.model_name}/all", "management")

    def classify(self, picture: bytes) -> dict[str, Any]:
        last: InferenceUnavailable | None = None
        for base in self.settings.torchserve_urls:  # a dead instance is skipped
            try:
                return self._call(f"{base}/predictions/{self.settings.model_name}", "inference", picture)
            except InferenceUnavailable as exc:
                last = exc
        raise last or InferenceUnavailable("no model server configured")
