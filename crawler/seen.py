"""What a crawl has kept so far: SHA-1s, perceptual hashes and counts per term.

One crawler process keeps this in memory; crawler processes sharing a Redis URL keep it
in Redis, so an exact or near duplicate is caught whichever process fetched the first
copy. Both start from the manifest, so a resumed crawl never keeps a picture twice.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

import numpy as np


class PictureHashes(NamedTuple):
    phash: int  # greyscale structure
    colour: int  # colour shares




class LocalSeen:
    def __init__(self) -> None:
        self.sha1s: set[str] = set()
        self.table = np.zeros((1024, 2), dtype=np.uint64)  # rows of (phash, colour hash), grown by doubling
        self.count = 0
        self.counts: Counter[str] = Counter()

    def claim(self, sha1: str) -> bool:
        """True if `sha1` is new (and now taken)."""
        if sha1 in self.sha1s:
            return False
        self.sha1s.add(sha1)
        return True

    def all_hashes(self) -> np.ndarray:
        return self.table[:self.count]

    def keep(self, sha1: str, hashes: PictureHashes, query: str) -> None:
        self.sha1s.add(sha1)
        if self.count == len(self.table):
            self.table = np.concatenate([self.table, np.zeros_like(self.table)])
        self.table[self.count] = hashes
        self.count += 1
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

    def all_hashes(self) -> np.ndarray:
        values = self.redis.lrange(f"{self.prefix}:hashes", 0, -1)
        return np.array([[int(part) for part in value.split(b":")] for value in values], dtype=np.uint64)

    def keep(self, sha1: str, hashes: PictureHashes, query: str) -> None:
        self.redis.sadd(f"{self.prefix}:sha1", sha1)
        self.redis.rpush(f"{self.prefix}:hashes", f"{hashes.phash}:{hashes.colour}")
        self.redis.hincrby(f"{self.prefix}:kept", query, 1)

    def kept(self, query: str) -> int:
        return int(self.redis.hget(f"{self.prefix}:kept", query) or 0)


def is_near(hashes: PictureHashes, kept: np.ndarray, max_distance: int) -> bool:
    """True if a kept picture (a row of `kept`: phash, colour hash) is within `max_distance`
    bits of `hashes` in both structure and colour: a re-encoded or resized copy, not the same
    shot in another colour."""
    if not len(kept):
        return False
    structure = np.bitwise_count(kept[:, 0] ^ np.uint64(hashes.phash))
    colour = np.bitwise_count(kept[:, 1] ^ np.uint64(hashes.colour))
    return bool(((structure <= max_distance) & (colour <= max_distance)).any())
