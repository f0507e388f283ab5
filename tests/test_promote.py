"""`shoplens-serve promote` against a real TorchServe of its own (the session one keeps its default) and
the API in front of it with a real redis-server; models trained on drawn pictures in seconds."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest
import redis

from serving.api import create_app
from serving.archive import archive
from serving.cli import main as serve
from serving.stack import api_environment
from serving.torchserve import TorchServe
from shoplens.imaging import decode_image, perceptual_hash
from shoplens.sample import jpeg_bytes, write_sample
from shoplens.splitfile import CorrectedPictures, file_sha1, read_split_file
from tests.support.training import fast_args
from training.cli import main as train

CATEGORIES, COLOURS = ["dress", "shirt", "pants"], ["red", "blue"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """3 categories x 2 colours x 12 drawn pictures: a test part of about 14."""
    root = tmp_path_factory.mktemp("promote-data")
    write_sample(root, CATEGORIES, COLOURS, per_label=12, size=(48, 64), seed=5)
    return root


@pytest.fixture(scope="module")
def base(data, tmp_path_factory):
    """The served model's run folder (bundle/, split.json)."""
    out = tmp_path_factory.mktemp("promote") / "base"
    assert train(fast_args(data, out, "--epochs", "4", "--lr", "2e-3")) == 0
    return out


@pytest.fixture(scope="module")
def served(base, tmp_path_factory):
    """A TorchServe serving the base bundle as `shoplens.mar`, as `shoplens-serve up` does."""
    root = tmp_path_factory.mktemp("promote-serve")
    mar = archive(base / "bundle", root / "store")
    server = TorchServe(root / "store", root / "work").start()
    try:
        server.register(mar.name, batch_size=4, max_batch_delay_ms=10)
        yield server
    finally:
        server.stop()


@pytest.fixture()
def environment(served, redis_server, monkeypatch):
    """The API's settings (and promote's TorchServe addresses) in the environment; Redis emptied."""
    redis.Redis.from_url(redis_server).flushdb()
    for name, value in api_environment([served], redis_server, ["test-key"]).items():
        monkeypatch.setenv(name, value)
    return served


def retrained(base: Path, out: Path, *options: str) -> Path:
    """A bundle trained on the base run's split (its held-out test part untouched); returns the bundle."""
    time.sleep(1.05)  # versions are training's UTC second: each bundle its own
    assert train(fast_args(Path("unused"), out, "--split", str(base / "split.json"), *options)) == 0
    return out / "bundle"


def versions(server: TorchServe) -> tuple[str, set[str]]:
    """(default version, every registered version)."""
    described = {}
    for path in ("/models/shoplens", "/models/shoplens/all"):
        status, body = server.request("management", "GET", path)
        assert status == 200, body
        described[path] = [str(v["modelVersion"]) for v in json.loads(body)]
    (default,) = described["/models/shoplens"]
    return default, set(described["/models/shoplens/all"])


def promote(bundle: Path, server: TorchServe, capsys, *options: str) -> tuple[int, str, str]:
    status = serve(["promote", str(bundle), "--store", str(server.store), "--split",
                    str(bundle.parent.parent / "base" / "split.json"), *options])
    printed = capsys.readouterr()
    return status, printed.out, printed.err


def bundle_version(bundle: Path) -> str:
    return json.loads((bundle / "bundle.json").read_text())["version"]


def test_promotion_refuses_a_worse_model(base, environment, capsys, tmp_path):
    server = environment
    before = versions(server)
    stores = sorted(p.name for p in server.store.iterdir())
    worse = retrained(base, tmp_path / "worse", "--epochs", "1", "--lr", "1e-9")  # barely moved from random
    status, out, err = promote(worse, server, capsys)
    print(out)
    assert status == 3, err
    assert "refused" in out and "McNemar's exact test" in out and "n=" in out
    assert versions(server) == before
    assert sorted(p.name for p in server.store.iterdir()) == stores


def test_promotion_accepts_a_better_model_and_the_api_follows(base, environment, capsys, tmp_path, drawn):
    server = environment
    old, _ = versions(server)
    client = create_app().test_client()
    picture = jpeg_bytes(drawn("shirt", "red", 77, (96, 128)))
    headers = {"X-API-Key": "test-key"}
    first = client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=headers).json
    cached = client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=headers).json
    assert (first["version"], first["cached"], cached["cached"]) == (old, False, True)

    better = retrained(base, tmp_path / "better", "--epochs", "10", "--lr", "2e-3")
    status, out, err = promote(better, server, capsys)
    print(out)
    new = bundle_version(better)
    assert status == 0, err
    assert "promoted" in out and versions(server) == (new, {old, new})
    time.sleep(1.1)  # the API looks the default version up at most once a second
    after = client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=headers).json
    assert (after["version"], after["cached"]) == (new, False)  # the old version's cached answer is not served
    again = client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=headers).json
    assert (again["version"], again["cached"]) == (new, True)


def test_bad_input_registers_nothing(base, environment, capsys, tmp_path, monkeypatch):
    server = environment
    before, stores = versions(server), sorted(p.name for p in server.store.iterdir())
    status, _, err = promote(tmp_path / "no-bundle", server, capsys)
    assert status == 2 and "no-bundle" in err
    narrow = retrained(base, tmp_path / "narrow", "--categories", "dress,shirt")
    status, _, err = promote(narrow, server, capsys)
    assert status == 2 and "pants" in err
    monkeypatch.setenv("SHOPLENS_TORCHSERVE_MANAGEMENT_URLS", "http://127.0.0.1:9")  # nothing listens there
    status, _, err = promote(base / "bundle", server, capsys)
    assert status == 2 and "unreachable" in err
    assert versions(server) == before and sorted(p.name for p in server.store.iterdir()) == stores


def test_held_out_pictures_leave_out_corrected_ones(base):
    """A corrected picture (same bytes) and a re-encoded copy of one (same pHash, other SHA-1) both leave."""
    meta, samples = read_split_file(base / "split.json")
    test = [s for s in samples if s.split == "test"]
    copy = decode_image(io.BytesIO(jpeg_bytes(decode_image(test[1].path), quality=70)).getvalue())
    corrected = CorrectedPictures([file_sha1(test[0].path)], [perceptual_hash(copy)], meta["max_distance"])
    kept, left_out = corrected.held_out(test)
    assert left_out >= 2 and test[0] not in kept and test[1] not in kept
    assert len(kept) == len(test) - left_out
