"""API configuration: environment variables with defaults (12-factor style)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


@dataclass
class Settings:
    torchserve_urls: list[str] = field(default_factory=lambda: _list("SHOPLENS_TORCHSERVE_URLS",
                                                                     "http://127.0.0.1:8080"))
    management_url: str = os.environ.get("SHOPLENS_TORCHSERVE_MANAGEMENT_URL", "http://127.0.0.1:8081")
    key_file: str = os.environ.get("SHOPLENS_TORCHSERVE_KEY_FILE", "key_file.json")
    model_name: str = os.environ.get("SHOPLENS_MODEL_NAME", "shoplens")
    redis_url: str = os.environ.get("SHOPLENS_REDIS_URL", "redis://127.0.0.1:6379/0")
    cors_origins: list[str] = field(default_factory=lambda: _list("SHOPLENS_CORS_ORIGINS"))  # extension origins
    api_keys: list[str] = field(default_factory=lambda: _list("SHOPLENS_API_KEYS"))
    max_batch: int = int(os.environ.get("SHOPLENS_MAX_BATCH", "32"))
    max_upload_bytes: int = int(os.environ.get("SHOPLENS_MAX_UPLOAD_BYTES", str(10 * 1024 * 1024)))
    inference_timeout: float = float(os.environ.get("SHOPLENS_INFERENCE_TIMEOUT", "5"))
    cache_ttl: int = int(os.environ.get("SHOPLENS_CACHE_TTL", str(7 * 24 * 3600)))
    fetch_allow_hosts: list[str] = field(default_factory=lambda: _list("SHOPLENS_FETCH_ALLOW_HOSTS"))
    fetch_timeout: float = float(os.environ.get("SHOPLENS_FETCH_TIMEOUT", "5"))
    rate_limit: int = int(os.environ.get("SHOPLENS_RATE_LIMIT", "600"))  # pictures per key per window
    rate_window: int = int(os.environ.get("SHOPLENS_RATE_WINDOW", "60"))  # seconds
