"""The API's client for TorchServe: keys from each instance's key_file.json, renewed before
they expire; one deadline per call; clear failures.

With several TorchServe instances, requests are spread round-robin and an instance that
fails is skipped for that request, so one instance stopping loses no request. The
instances, the key renewal and any retry all share the call's one deadline.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from serving.api.config import Settings
from serving.api.deadline import Deadline

# Renew a key this long before TorchServe's expiry; its shortest lifetime
# (token_expiration_min=1) is 60 s.
RENEW_BEFORE_S = 20.0


class InferenceUnavailable(Exception):
    """No TorchServe instance answered in time without a server error."""


class InvalidKey(Exception):
    """TorchServe refused the key (expired, or replaced by a renewal)."""


def _expiry(entry: dict[str, str]) -> float | None:
    """The key's expiry as a Unix time; TorchServe writes nanoseconds, which Python cuts to micro."""
    stamp = entry.get("expiration time")
    if not stamp:
        return None
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{whole}.{(fraction or '0')[:6]}+00:00").timestamp()


@contextlib.contextmanager
def _file_locked(path: str, deadline: Deadline) -> Iterator[None]:
    """An advisory lock on the key file, so one API worker process renews at a time."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if deadline.expired:
                    raise InferenceUnavailable("timed out waiting for another worker renewing the key") from None
                time.sleep(0.01)
        yield
    finally:
        os.close(descriptor)  # releases the lock


@dataclass
class Instance:
    """One TorchServe. Its key_file.json is the one source of its keys: TorchServe answers a
    renewal with an empty body and writes the new key there, where every worker reads it."""

    inference_url: str
    management_url: str
    key_file: str
    _renewing: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _entry(self, api: str) -> tuple[str, float | None]:
        try:
            with open(self.key_file, encoding="utf-8") as handle:
                entry = json.load(handle)[api]
            return entry["key"], _expiry(entry)
        except (OSError, ValueError, KeyError):
            return "", None  # token authorisation off, or the file not written yet

    def key(self, api: str, deadline: Deadline) -> str:
        key, expires = self._entry(api)
        if expires is not None and expires - time.time() < RENEW_BEFORE_S:
            key = self.renew(api, key, deadline)
        return key

    def renew(self, api: str, stale: str, deadline: Deadline) -> str:
        """A fresh `api` key: the one another worker just wrote, or a new one from TorchServe's
        token API (authorised by the file's API key, which does not expire)."""
        if not self._renewing.acquire(timeout=deadline.remaining()):
            raise InferenceUnavailable("timed out waiting for the key renewal")
        try:
            with _file_locked(self.key_file, deadline):
                key, expires = self._entry(api)
                if key != stale and (expires is None or expires - time.time() >= RENEW_BEFORE_S):
                    return key
                api_key, _ = self._entry("API")
                request = authorised(f"{self.management_url}/token?type={api}", api_key, None, "POST")
                try:
                    with urllib.request.urlopen(request, timeout=max(deadline.remaining(), 0.001)) as response:
                        response.read()
                except (urllib.error.URLError, TimeoutError, OSError) as exc:
                    raise InferenceUnavailable(f"model server unavailable: renewing its {api} key: {exc}") from None
                return self._entry(api)[0]
        except OSError as exc:  # the key file vanished: TorchServe stopped
            raise InferenceUnavailable(f"model server unavailable: {exc}") from None
        finally:
            self._renewing.release()


def instances(settings: Settings) -> list[Instance]:
    lists = (settings.torchserve_urls, settings.management_urls, settings.key_files)
    if len({len(values) for values in lists}) != 1 or not lists[0]:
        raise ValueError("SHOPLENS_TORCHSERVE_URLS, _MANAGEMENT_URLS and _KEY_FILES need one entry per instance")
    return [Instance(*entry) for entry in zip(*lists, strict=True)]


def authorised(url: str, key: str, data: bytes | None, method: str | None = None,
               headers: dict[str, str] | None = None) -> urllib.request.Request:
    """A request to TorchServe carrying `key` (POST with a body, GET without, unless `method` says)."""
    return urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"),
                                  headers={"Authorization": f"Bearer {key}", "Content-Type": "application/octet-stream",
                                           **(headers or {})})


def _call(url: str, key: str, data: bytes | None, deadline: Deadline, headers: dict[str, str] | None = None) -> Any:
    if deadline.expired:
        raise InferenceUnavailable(f"model server unavailable: no answer within {deadline.seconds:g} s")
    request = authorised(url, key, data, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=deadline.remaining()) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as error:
        # TorchServe answers an expired or unknown key with 400 InvalidKeyException
        if error.code in (400, 401) and b"InvalidKeyException" in error.read():
            raise InvalidKey() from None
        raise InferenceUnavailable(f"model server unavailable: {error}") from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        raise InferenceUnavailable(f"model server unavailable: {exc}") from None


def send(instance: Instance, api: str, method: str, path: str, data: bytes | None = None,
         content_type: str = "application/octet-stream", timeout: float = 30) -> tuple[int, bytes]:
    """One request to an instance's inference or management API with its current key: (status, body).
    For callers that read TorchServe's own answers (registration, set-default, readiness); a failed
    connection raises OSError, a key that cannot be renewed InferenceUnavailable."""
    base = instance.inference_url if api == "inference" else instance.management_url
    key = instance.key(api, Deadline(timeout))
    request = authorised(base + path, key, data, method, {"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class TorchServeClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.instances = instances(settings)
        self._version: tuple[float, str] | None = None
        self._vocabularies: dict[str, dict[str, list[str]]] = {}
        self._turn = itertools.count()
        self._turn_lock = threading.Lock()
        self._budget = threading.local()
        self._pool = ThreadPoolExecutor(max_workers=max(1, settings.inference_concurrency),
                                        thread_name_prefix="inference")

    @contextlib.contextmanager
    def one_budget(self) -> Iterator[None]:
        """Inside it, this thread's calls (a request's version lookup and classification) share one
        SHOPLENS_INFERENCE_TIMEOUT between them; time spent elsewhere (fetching URLs) is not counted."""
        self._budget.left = self.settings.inference_timeout
        try:
            yield
        finally:
            del self._budget.left

    @contextlib.contextmanager
    def _deadline(self) -> Iterator[Deadline]:
        """The deadline of one call: the thread's budget left, or a whole SHOPLENS_INFERENCE_TIMEOUT."""
        left = getattr(self._budget, "left", None)
        deadline = Deadline(self.settings.inference_timeout if left is None else left)
        try:
            yield deadline
        finally:
            if left is not None:
                self._budget.left = deadline.remaining()

    def _in_turn(self) -> list[Instance]:
        """The instances, starting from the next one in turn."""
        with self._turn_lock:
            start = next(self._turn) % len(self.instances)
        return self.instances[start:] + self.instances[:start]

    def _ask(self, instance: Instance, api: str, path: str, data: bytes | None, deadline: Deadline,
             headers: dict[str, str] | None) -> Any:
        base = instance.inference_url if api == "inference" else instance.management_url
        key = instance.key(api, deadline)
        try:
            return _call(base + path, key, data, deadline, headers)
        except InvalidKey:  # expired early (clock skew) or replaced by another worker's renewal
            return _call(base + path, instance.renew(api, key, deadline), data, deadline, headers)

    def _first_answer(self, api: str, path: str, data: bytes | None = None, deadline: Deadline | None = None,
                      headers: dict[str, str] | None = None) -> Any:
        if deadline is None:
            with self._deadline() as deadline:
                return self._first_answer(api, path, data, deadline, headers)
        last: Exception | None = None
        for instance in self._in_turn():
            try:
                return self._ask(instance, api, path, data, deadline, headers)
            except (InferenceUnavailable, InvalidKey) as exc:
                last = exc
            if deadline.expired:
                break
        if isinstance(last, InvalidKey):
            raise InferenceUnavailable("model server unavailable: it refused a freshly renewed key")
        raise last or InferenceUnavailable("no model server configured")

    def version(self) -> str:
        """The default model version, looked up at most once a second."""
        now = time.monotonic()
        if self._version is None or now - self._version[0] > 1.0:
            described = self._first_answer("management", f"/models/{self.settings.model_name}")
            self._version = (now, str(described[0]["modelVersion"]))
        return self._version[1]

    def vocabulary(self, version: str) -> dict[str, list[str]]:
        """The categories and colours `version` of the model knows (its handler's describe answer), asked
        once per version: a version's labels never change."""
        if version not in self._vocabularies:
            path = f"/models/{self.settings.model_name}/{version}?customized=true"
            described = self._first_answer("management", path)[0].get("customizedMetadata")
            labels = json.loads(described) if isinstance(described, str) else described
            if not isinstance(labels, dict) or not isinstance(labels.get("categories"), list):
                raise InferenceUnavailable(f"model version {version} does not describe its labels; archive it again")
            self._vocabularies[version] = {"categories": labels["categories"], "colours": labels.get("colours", [])}
        return self._vocabularies[version]

    def versions(self) -> list[dict[str, Any]]:
        """Every registered version of the model, as TorchServe describes them."""
        return self._first_answer("management", f"/models/{self.settings.model_name}/all")

    def _predictions(self, version: str | None) -> str:
        """The prediction path of `version`, or of the default version when None. Naming the version
        the answer will be cached under keeps a default switched meanwhile (``shoplens-serve promote``)
        from filing one version's answer under another's key."""
        return f"/predictions/{self.settings.model_name}" + (f"/{version}" if version else "")

    def embed(self, picture: bytes, version: str | None = None) -> dict[str, Any]:
        """The classify answer with the picture's L2-normalised "embedding" (visual search)."""
        return self._first_answer("inference", self._predictions(version), picture,
                                  headers={"X-ShopLens-Embedding": "true"})

    def classify_many(self, pictures: list[bytes], version: str | None = None) -> list[dict[str, Any]]:
        """Answers of `version` (None: the default) in order; sent concurrently so the model server can batch
        them; one deadline for all."""
        path = self._predictions(version)
        with self._deadline() as deadline:
            return list(self._pool.map(lambda picture: self._first_answer("inference", path, picture, deadline),
                                       pictures))
