"""Redis: answers cached under (picture SHA-256, model version), URL -> SHA-256 for a
while, and per-key rate counts.

Answers are keyed by model version, so a new default version never serves an old
answer. A URL's entry expires sooner (``url_ttl``) because the picture behind a URL can
change. The API keeps working when Redis is down: no cache, no rate limit, and it says so.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import redis


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

    def spend(self, api_key: str, pictures: int, window: int) -> int:
        """Count `pictures` against the key's current fixed window; returns the window's total."""
        key = f"shoplens:rate:{api_key}:{int(time.time()) // window}"
        with self.client.pipeline() as pipe:
            total, _ = pipe.incrby(key, pictures).expire(key, window * 2).execute()
        return int(total)

    def healthy(self) -> bool:
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False
