"""What a crawl has kept so far: SHA-1s, perceptual hashes and counts per term.

One crawler process keeps this in memory; crawler processes sharing a Redis URL keep it
in Redis, so an exact or near duplicate is caught whichever process fetched the first
copy. Both start from the manifest, so a resumed crawl never keeps a picture twice.
"""

from __future__ import annotations

from collections import Counter

import numpy as np


class LocalSeen:
    def __init__(self) -> None:
        self.sha1s: set[str] = set()
        self.phashes: list[int] = []
        self.counts: Counter[str] = Counter()

    def claim(self, sha1: str) -> bool:
        """True if `sha1` is new (and now taken)."""
        if sha1 in self.sha1s:
            return False
        self.sha1s.add(sha1)
        return True

    def all_phashes(self) -> list[int]:
        return self.phashes

    def keep(self, sha1: str, phash: int, query: str) -> None:
        self.sha1s.add(sha1)
        self.phashes.append(phash)
        self.counts[query] += 1

    def kept(self, query: str) -> int:
        return self.counts[query]


class RedisSeen(LocalSeen):
    def __init__(self, url: str, prefix: str) -> None:
        import redis

        super().__init__()
        self.redis = redis.Redis.from_url(url)
        self.prefix = prefix

    def claim(self, sha1: str) -> bool:
        return bool(self.redis.sadd(f"{self.prefix}:sha1", sha1))  # atomic across processes

    def all_phashes(self) -> list[int]:
        return [int(value) for value in self.redis.lrange(f"{self.prefix}:phash", 0, -1)]

    def keep(self, sha1: str, phash: int, query: str) -> None:
        self.redis.sadd(f"{self.prefix}:sha1", sha1)
        self.redis.rpush(f"{self.prefix}:phash", phash)
        self.redis.hincrby(f"{self.prefix}:kept", query, 1)

    def kept(self, query: str) -> int:
        return int(self.redis.hget(f"{self.prefix}:kept", query) or 0)


def is_near(phash: int, kept: list[int], max_distance: int) -> bool:
    if not kept:
        return False
    distances = np.bitwise_count(np.array(kept, dtype=np.uint64) ^ np.uint64(phash))
    return int(distances.min()) <= max_distance
