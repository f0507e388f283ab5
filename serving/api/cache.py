"""Redis: answers cached under (picture SHA-256, model version), URL -> SHA-256 for a
while, and the model's last default version. (Rate limits live in Redis too, kept by
Flask-Limiter: serving/api/security.py.)

Answers are keyed by model version, so a new default version never serves an old
answer. A URL's entry expires sooner (``url_ttl``) because the picture behind a URL can
change. The API keeps working when Redis is down: no cache, and it says so.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import redis

VERSION_KEY = "shoplens:default-version"


class AnswerCache:
    def __init__(self, url: str, ttl: int, url_ttl: int = 3600) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.ttl, self.url_ttl = ttl, url_ttl

    @staticmethod
    def _key(digest: str, version: str) -> str:
        return f"shoplens:answer:{version}:{digest}"

    @staticmethod
    def _url_key(url: str) -> str:
        return f"shoplens:url:{hashlib.sha256(url.encode()).hexdigest()}"

    def get(self, digest: str, version: str) -> dict[str, Any] | None:
        """The cached answer, None on a miss; raises redis.RedisError when Redis is down."""
        raw = self.client.get(self._key(digest, version))
        return json.loads(raw) if raw else None

    def put(self, digest: str, version: str, answer: dict[str, Any]) -> None:
        self.client.set(self._key(digest, version), json.dumps(answer), ex=self.ttl)

    def digest_for_url(self, url: str) -> str | None:
        raw = self.client.get(self._url_key(url))
        return raw.decode() if raw else None

    def remember_url(self, url: str, digest: str) -> None:
        self.client.set(self._url_key(url), digest, ex=self.url_ttl)

    def remember_version(self, version: str) -> None:
        """Record the model's default version, for answering from the cache while TorchServe is down."""
        self.client.set(VERSION_KEY, version)

    def last_version(self) -> str | None:
        raw = self.client.get(VERSION_KEY)
        return raw.decode() if raw else None

    def healthy(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False
