"""Shared fixtures: tiny drawn datasets, the training CLI, real redis-server and TorchServe,
the API's settings and the extension in Chromium. Test modules take these as fixtures; the
code behind them lives in tests/support/."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from serving.operations.archive import archive
from serving.operations.stack import RedisServer, api_environment
from serving.operations.torchserve import TorchServe
from shoplens import settings
from shoplens.sample import write_sample
from tests.support import ROOT
from tests.support.extension import PopupBrowser
from tests.support.openapi import conforms
from tests.support.pictures import drawn
from tests.support.postgres import PostgresCluster, binaries
from tests.support.training import fast_args, read_metrics, run_module
from training.cli import main as train

TINY_CATEGORIES = ["dress", "shirt", "pants"]
TINY_COLOURS = ["red", "blue"]
API_KEY = "test-key"  # the one key the test APIs accept


def corrections_settings(folder: Path) -> dict[str, str]:
    """SHOPLENS_* variables that keep an API's corrections (SQLite, pictures) in `folder`, never in the
    repository's run folder."""
    return settings.environment({settings.DATABASE_URL: f"sqlite:///{folder / 'corrections.sqlite3'}",
                                 settings.PICTURE_STORE: folder / "pictures"})


def api_settings(server: TorchServe, redis_url: str) -> dict[str, str]:
    """SHOPLENS_* variables for an API in front of `server` and `redis_url`, its corrections beside the
    server's model store."""
    return {**api_environment([server], redis_url, [API_KEY]), "SHOPLENS_ACCESS_LOG": "/dev/null",
            **corrections_settings(Path(server.store).parent / "corrections")}


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository's root: the working directory of commands run as a user runs them."""
    return ROOT


@pytest.fixture(scope="session")
def tiny_labels() -> tuple[list[str], list[str]]:
    """(categories, colours) of tiny_data."""
    return TINY_CATEGORIES, TINY_COLOURS


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 categories x 2 colours x 8 drawn pictures (48x64), the shape the crawler writes."""
    root = tmp_path_factory.mktemp("tiny")
    write_sample(root, TINY_CATEGORIES, TINY_COLOURS, per_label=8, size=(48, 64), seed=1)
    return root


@pytest.fixture()
def data_copy(tiny_data: Path, tmp_path: Path) -> Path:
    """A private copy of tiny_data that a test may damage."""
    return Path(shutil.copytree(tiny_data, tmp_path / "data"))


def _helper_fixture(name: str, helper: Callable) -> Callable:
    def fixture() -> Callable:
        return helper
    fixture.__doc__ = helper.__doc__
    return pytest.fixture(name=name, scope="session")(fixture)


# Plain helpers, each handed to the tests as a fixture of its name (`pytest --fixtures`
# shows each one's docstring); train(argv) is the training CLI in-process, returning its
# exit status.
for _name, _helper in {"drawn": drawn, "fast_args": fast_args, "train": train, "read_metrics": read_metrics,
                       "run_module": run_module, "api_settings": api_settings, "conforms": conforms,
                       "corrections_settings": corrections_settings}.items():
    globals()[f"{_name}_fixture"] = _helper_fixture(_name, _helper)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory):
    """A real redis-server on loopback for the session; yields its URL."""
    with RedisServer(tmp_path_factory.mktemp("redis")).start(timeout=15) as server:
        yield server.url


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory: pytest.TempPathFactory, tiny_data: Path):
    """A real TorchServe serving a bundle trained on tiny_data; yields (server, bundle.json)."""
    root = tmp_path_factory.mktemp("torchserve")
    assert train(fast_args(tiny_data, root / "run")) == 0
    mar = archive(root / "run" / "bundle", root / "store")
    server = TorchServe(root / "store", root / "work").start()
    try:
        server.register(mar.name, batch_size=4, max_batch_delay_ms=10)
        yield server, json.loads((root / "run" / "bundle" / "bundle.json").read_text())
    finally:
        server.stop()


@pytest.fixture(scope="session")
def served_bundle(torchserve) -> Path:
    """The bundle folder of the model the session's TorchServe serves (the `torchserve` fixture's layout)."""
    server, _ = torchserve
    return server.store.parent / "run" / "bundle"


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL cluster on loopback for the session (Debian's postgresql package); its
    `new_database()` gives each test an empty database's URL. Skips where PostgreSQL is not installed."""
    bin_dir = binaries()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    cluster = PostgresCluster(bin_dir)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """An empty corrections database: a SQLite file, then a database in the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'corrections.sqlite3'}"
    return request.getfixturevalue("postgres").new_database()


@pytest.fixture(name="api_key", scope="session")
def api_key_fixture() -> str:
    """The one API key the test APIs accept."""
    return API_KEY


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    """Headless Chromium with the extension loaded, for one test module."""
    browser = PopupBrowser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield browser
    finally:
        browser.quit()
