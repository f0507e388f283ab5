"""API configuration: environment variables with defaults (12-factor style), read when
the settings are made, so a test or a worker sees the environment of that moment."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def env(name: str, default: str, kind: type = str) -> Callable[[], Any]:
    return lambda: kind(os.environ.get(name, default))


def env_list(name: str, default: str = "") -> Callable[[], list[str]]:
    return lambda: [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


@dataclass
class Settings:
    # one entry per TorchServe instance, in the same order in the three lists
    torchserve_urls: list[str] = field(default_factory=env_list("SHOPLENS_TORCHSERVE_URLS", "http://127.0.0.1:8080"))
    management_urls: list[str] = field(default_factory=env_list("SHOPLENS_TORCHSERVE_MANAGEMENT_URLS",
                                                                "http://127.0.0.1:8081"))
    key_files: list[str] = field(default_factory=env_list("SHOPLENS_TORCHSERVE_KEY_FILES", "key_file.json"))
    model_name: str = field(default_factory=env("SHOPLENS_MODEL_NAME", "shoplens"))
    redis_url: str = field(default_factory=env("SHOPLENS_REDIS_URL", "redis://127.0.0.1:6379/0"))
    cors_origins: list[str] = field(default_factory=env_list("SHOPLENS_CORS_ORIGINS"))  # extension origins
    api_keys: list[str] = field(default_factory=env_list("SHOPLENS_API_KEYS"))
    max_batch: int = field(default_factory=env("SHOPLENS_MAX_BATCH", "32", int))
    max_upload_bytes: int = field(default_factory=env("SHOPLENS_MAX_UPLOAD_BYTES", str(10 * 1024 * 1024), int))
    inference_timeout: float = field(default_factory=env("SHOPLENS_INFERENCE_TIMEOUT", "5", float))
    inference_concurrency: int = field(default_factory=env("SHOPLENS_INFERENCE_CONCURRENCY", "8", int))  # per worker
    cache_ttl: int = field(default_factory=env("SHOPLENS_CACHE_TTL", str(7 * 24 * 3600), int))
    url_ttl: int = field(default_factory=env("SHOPLENS_URL_TTL", "3600", int))  # a URL's picture may change
    fetch_allow_hosts: list[str] = field(default_factory=env_list("SHOPLENS_FETCH_ALLOW_HOSTS"))
    fetch_timeout: float = field(default_factory=env("SHOPLENS_FETCH_TIMEOUT", "5", float))
    rate_limit: int = field(default_factory=env("SHOPLENS_RATE_LIMIT", "600", int))  # pictures per key per window
    rate_window: int = field(default_factory=env("SHOPLENS_RATE_WINDOW", "60", int))  # seconds
