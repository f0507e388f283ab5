"""Every ``SHOPLENS_*`` setting, declared once: name, type, default and what it does.

Who reads a setting is its ``scope``: ``api`` (the Flask API, ``serving/api/config.py``),
``gunicorn`` (``serving/api/gunicorn.conf.py``), ``handler`` (the TorchServe handler) and ``tests``
read environment variables; ``crawl`` settings are Scrapy settings of the crawler (its
command line sets them), and the ones training shares with it are its option defaults too.

Reading the environment (`Setting.read`), writing it for a child process (`environment`),
docs/settings.md's table (`markdown_table`, ``python -m shoplens.settings``) and
docker/compose.yaml all come from, or are checked by tests against, these declarations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shoplens import ShopLensError

ENVIRONMENT_SCOPES = ("api", "gunicorn", "handler", "tests")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type  # str, int, float, bool, or list: comma-separated strings
    default: Any  # a tuple for lists
    doc: str
    scope: str
    attribute: str = ""  # the field name in a settings object; default: the name less SHOPLENS_, lower case

    @property
    def field(self) -> str:
        return self.attribute or self.name.removeprefix("SHOPLENS_").lower()

    def parse(self, text: str) -> Any:
        """The typed value of `text` as found in the environment; ShopLensError names the setting if it is wrong."""
        if self.kind is list:
            return [item.strip() for item in text.split(",") if item.strip()]
        if self.kind is bool:
            if text.strip().lower() not in TRUE + FALSE:
                raise ShopLensError(f"{self.name}={text!r}: expected one of {', '.join(TRUE + FALSE[:-1])}")
            return text.strip().lower() in TRUE
        try:
            return self.kind(text)
        except ValueError:
            raise ShopLensError(f"{self.name}={text!r}: expected {self.kind.__name__}") from None

    def format(self, value: Any) -> str:
        """`value` as an environment variable holds it."""
        if self.kind is list:
            return ",".join(str(item) for item in value)
        if self.kind is bool:
            return "true" if value else "false"
        return str(value)

    def read(self, environ: Mapping[str, str] | None = None) -> Any:
        environ = os.environ if environ is None else environ
        if self.name in environ:
            return self.parse(environ[self.name])
        return list(self.default) if self.kind is list else self.default


DECLARED: dict[str, Setting] = {}


def _declare(name: str, kind: type, default: Any, doc: str, scope: str, attribute: str = "") -> Setting:
    DECLARED[name] = Setting(name, kind, default, doc, scope, attribute)
    return DECLARED[name]


MIB = 1024 * 1024

# The API (serving/api). One entry per TorchServe instance, in the same order in the three lists.
TORCHSERVE_URLS = _declare("SHOPLENS_TORCHSERVE_URLS", list, ("http://127.0.0.1:8080",),
                           "TorchServe inference URLs, one per instance", "api")
TORCHSERVE_MANAGEMENT_URLS = _declare("SHOPLENS_TORCHSERVE_MANAGEMENT_URLS", list, ("http://127.0.0.1:8081",),
                                      "TorchServe management URLs, same order", "api", "management_urls")
TORCHSERVE_KEY_FILES = _declare("SHOPLENS_TORCHSERVE_KEY_FILES", list, ("key_file.json",),
                                "each instance's key_file.json (its tokens), same order", "api", "key_files")
MODEL_NAME = _declare("SHOPLENS_MODEL_NAME", str, "shoplens", "the model's name in TorchServe", "api")
REDIS_URL = _declare("SHOPLENS_REDIS_URL", str, "redis://127.0.0.1:6379/0",
                     "Redis for the answer cache and the rate limits", "api")
API_KEYS = _declare("SHOPLENS_API_KEYS", list, (), "keys clients send in X-API-Key; the API refuses to start "
                    "without one unless SHOPLENS_INSECURE_NO_API_KEY is true", "api")
INSECURE_NO_API_KEY = _declare("SHOPLENS_INSECURE_NO_API_KEY", bool, False,
                               "true: run without API keys, open to anyone who reaches it", "api")
CORS_ORIGINS = _declare("SHOPLENS_CORS_ORIGINS", list, (), "origins (the extension's) allowed to read answers",
                        "api")
MAX_BATCH = _declare("SHOPLENS_MAX_BATCH", int, 32, "pictures per /v1/classify/batch request", "api")
MAX_UPLOAD_BYTES = _declare("SHOPLENS_MAX_UPLOAD_BYTES", int, 10 * MIB,
                             "largest picture, uploaded or fetched (bytes)", "api")
MAX_BATCH_BYTES = _declare("SHOPLENS_MAX_BATCH_BYTES", int, 64 * MIB,
                           "largest batch request body (bytes); refused from Content-Length before it is read",
                           "api")
SEND_MAX_SIDE = _declare("SHOPLENS_SEND_MAX_SIDE", int, 512,
                         "pictures are shrunk to at most this many pixels a side before they go to TorchServe", "api")
INFERENCE_TIMEOUT = _declare("SHOPLENS_INFERENCE_TIMEOUT", float, 5.0, "seconds TorchServe has to answer", "api")
INFERENCE_CONCURRENCY = _declare("SHOPLENS_INFERENCE_CONCURRENCY", int, 8,
                                 "TorchServe calls in flight per API worker", "api")
CACHE_TTL = _declare("SHOPLENS_CACHE_TTL", int, 7 * 24 * 3600, "seconds an answer stays cached", "api")
URL_TTL = _declare("SHOPLENS_URL_TTL", int, 3600,
                   "seconds a URL -> picture entry stays cached (the picture behind a URL may change)", "api")
INDEX_DIR = _declare("SHOPLENS_INDEX_DIR", str, "",
                     "catalogue index folder for /v1/similar (shoplens-index build --index); empty: no visual search",
                     "api")
FETCH_ALLOW_HOSTS = _declare("SHOPLENS_FETCH_ALLOW_HOSTS", list, (),
                             "host:port pairs fetched without the public-address check (tests, mirrors)", "api")
FETCH_TIMEOUT = _declare("SHOPLENS_FETCH_TIMEOUT", float, 5.0,
                         "seconds for a whole URL fetch: resolving, connecting, redirects and body", "api")
FETCH_PER_KEY = _declare("SHOPLENS_FETCH_PER_KEY", int, 2,
                         "URL fetches one API key may have in flight per worker process (429 beyond)", "api")
RATE_LIMIT = _declare("SHOPLENS_RATE_LIMIT", int, 600, "pictures per API key per window", "api")
RATE_WINDOW = _declare("SHOPLENS_RATE_WINDOW", int, 60, "rate-limit window (seconds)", "api")

# shoppers' corrections and the review queue (shoplens/corrections): the API writes them, training reads them
DATABASE_URL = _declare("SHOPLENS_DATABASE_URL", str, "sqlite:///runs/corrections/corrections.sqlite3",
                        "SQLAlchemy URL of the corrections database (postgresql+psycopg://... for deployments)",
                        "api")
PICTURE_STORE = _declare("SHOPLENS_PICTURE_STORE", str, "runs/corrections/pictures",
                         "folder keeping each corrected or queued picture once, by SHA-1", "api")
ADMIN_KEYS = _declare("SHOPLENS_ADMIN_KEYS", list, (),
                      "keys (X-API-Key) that may read and decide the review queue; shopper keys get 403", "api")
FEEDBACK_DAILY_BUDGET = _declare("SHOPLENS_FEEDBACK_DAILY_BUDGET", int, 200,
                                 "new corrections (votes) one API key may send in 24 hours; repeats update a vote "
                                 "and are not counted", "api")
REVIEW_CONFIDENCE = _declare("SHOPLENS_REVIEW_CONFIDENCE", float, 0.5,
                             "new answers whose top category is less probable than this, or flagged low-confidence, "
                             "enter the review queue", "api")

# gunicorn (serving/api/gunicorn.conf.py)
BIND = _declare("SHOPLENS_BIND", str, "127.0.0.1:8000", "address the API listens on", "gunicorn")
WORKERS = _declare("SHOPLENS_WORKERS", int, 2, "API worker processes", "gunicorn")
THREADS = _declare("SHOPLENS_THREADS", int, 4, "threads per API worker", "gunicorn")
ACCESS_LOG = _declare("SHOPLENS_ACCESS_LOG", str, "-", "access log file ('-': standard output)", "gunicorn")

# the crawler (Scrapy settings, set from shoplens-crawl's options); training shares the near-duplicate distance
MIN_SIDE = _declare("SHOPLENS_MIN_SIDE", int, 64, "drop crawled pictures with a shorter side (pixels)", "crawl")
MAX_DISTANCE = _declare("SHOPLENS_MAX_DISTANCE", int, 4,
                        "perceptual-hash bits within which pictures are near-duplicates (crawl drops, training splits)",
                        "crawl")
VOCABULARY = _declare("SHOPLENS_VOCABULARY", str, "", "a TOML file of category and colour words added to "
                      "crawler/data/vocabulary.toml (same layout)", "crawl")
PER_TERM = _declare("SHOPLENS_PER_TERM", int, 0, "pictures kept per term (0: no cap)", "crawl")
PROGRESS_SECONDS = _declare("SHOPLENS_PROGRESS_SECONDS", float, 5.0, "seconds between the crawl's progress lines",
                            "crawl")
REDIS_IDLE_SECONDS = _declare("SHOPLENS_REDIS_IDLE_SECONDS", float, 6.0,
                              "with --redis: seconds a crawl process waits idle for shared work", "crawl")

# the test suite
TEST_ARTIFACTS = _declare("SHOPLENS_TEST_ARTIFACTS", str, "runs/test-artifacts",
                          "where tests save screenshots (relative to the repository)", "tests")
CLOTHING_SMALL = _declare("SHOPLENS_CLOTHING_SMALL", str, "../shared/datasets/clothing-small",
                          "clothing-small for the tests that read real photographs (relative to the repository)",
                          "tests")


def in_scope(scope: str) -> list[Setting]:
    return [setting for setting in DECLARED.values() if setting.scope == scope]


def environment(values: Mapping[Setting, Any]) -> dict[str, str]:
    """Environment variables that give a child process these settings."""
    return {setting.name: setting.format(value) for setting, value in values.items()}


def markdown_table() -> str:
    """docs/settings.md's settings table."""
    def shown(setting: Setting) -> str:
        value = setting.format(setting.default)
        return f"`{value}`" if value else "(none)"

    rows = [f"| `{s.name}` | {s.scope} | {s.kind.__name__} | {shown(s)} | {s.doc} |" for s in DECLARED.values()]
    return "\n".join(["| setting | read by | type | default | what it does |", "| --- | --- | --- | --- | --- |",
                      *rows])


if __name__ == "__main__":
    print(markdown_table())
