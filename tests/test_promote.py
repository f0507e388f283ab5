"""`shoplens-serve promote` against a real TorchServe of its own (the session one keeps its default) and
the API in front of it with a real redis-server; models trained on drawn pictures in seconds."""

from __future__ import annotations

import io
import json
import random
import re
import time
from pathlib import Path

import pytest
import redis

from serving.api import create_app
from serving.operations.archive import archive
from serving.operations.cli import main as serve
from serving.operations.stack import api_environment, register_served
from serving.operations.torchserve import TorchServe
from shoplens.bundle import read_bundle
from shoplens.classifier import PictureClassifier
from shoplens.corrections.store import Answer, Correction, open_store
from shoplens.exported import load_predictor
from shoplens.imaging import decode_image, jpeg_bytes, perceptual_hash
from shoplens.sample import draw_garment, write_sample
from shoplens.splitfile import CorrectedPictures, file_sha1, read_split_file
from training.cli import main as train

CATEGORIES, COLOURS = ["dress", "shirt", "pants"], ["red", "blue"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """3 categories x 2 colours x 12 drawn pictures: a test part of about 14."""
    root = tmp_path_factory.mktemp("promote-data")
    write_sample(root, CATEGORIES, COLOURS, per_label=12, size=(48, 64), seed=5)
    return root


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    """One feature cache for the module's runs: the frozen stem's outputs are computed once."""
    return tmp_path_factory.mktemp("features")


def lite_args(out: Path, epochs: int, features: Path, *extra: str) -> list[str]:
    """efficientnet_lite0's head on 64-pixel inputs (the stem frozen, its features cached): seconds an epoch."""
    return ["train", "--out", str(out), "--image-size", "64", "--epochs", str(epochs), "--lr", "3e-3",
            "--batch-size", "16", "--workers", "0", "--patience", "20", "--feature-cache", str(features), *extra]


@pytest.fixture(scope="module")
def base(data, features, tmp_path_factory):
    """The served model's run folder (bundle/, split.json): one epoch, so a better model can exist."""
    out = tmp_path_factory.mktemp("promote") / "base"
    assert train(lite_args(out, 1, features, "--data", str(data))) == 0
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


def retrained(base: Path, out: Path, epochs: int, features: Path, *options: str) -> Path:
    """A bundle trained on the base run's split (its held-out test part untouched); returns the bundle."""
    time.sleep(1.05)  # versions are training's UTC second: each bundle its own
    assert train(lite_args(out, epochs, features, "--split", str(base / "split.json"), *options)) == 0
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


def promote(bundle: Path, server: TorchServe, split: Path, capsys, *options: str) -> tuple[int, str, str]:
    status = serve(["promote", str(bundle), "--store", str(server.store), "--split", str(split), *options])
    printed = capsys.readouterr()
    return status, printed.out, printed.err


def bundle_version(bundle: Path) -> str:
    return json.loads((bundle / "bundle.json").read_text())["version"]


def test_promotion_refuses_a_worse_model(base, environment, features, capsys, tmp_path):
    server = environment
    before, stores = versions(server), sorted(p.name for p in server.store.iterdir())
    worse = retrained(base, tmp_path / "worse", 1, features, "--lr", "1e-9")  # its head barely moved from random
    status, out, err = promote(worse, server, base / "split.json", capsys)
    print(out)
    assert status == 3, err
    b, c = (int(re.search(rf"\b{name}=(\d+)", out).group(1)) for name in ("b", "c"))
    assert b > c and "refused" in out and "McNemar's exact test" in out and "n=" in out
    assert versions(server) == before and sorted(p.name for p in server.store.iterdir()) == stores


def answer(bundle: Path, picture: bytes) -> str:
    """The bundle's category for `picture` through the shared picture pipeline (what TorchServe runs)."""
    info, _ = read_bundle(bundle)
    classifier = PictureClassifier(info, load_predictor(bundle, info, "torchscript"), 0.1)
    prepared = classifier.prepare([picture])
    return classifier.answers(prepared, classifier.predict(prepared))[0]["category"]


@pytest.fixture()
def corrections(base, tmp_path):
    """A corrections database (SQLite) with accepted corrections: twelve pants pictures lying on their side
    (pictures the model never saw), and one picture of the base split's test part; yields (URL, pictures)."""
    url = f"sqlite:///{tmp_path / 'corrections.db'}"
    store = open_store(url, tmp_path / "pictures")
    sideways = [jpeg_bytes(draw_garment("pants", "red", (48, 64), random.Random(seed)).rotate(90, expand=True))
                for seed in range(100, 112)]
    _, samples = read_split_file(base / "split.json")
    tested = next(s for s in samples if s.split == "test")
    try:
        for picture, category in [*((p, "pants") for p in sideways), (tested.path.read_bytes(), tested.category)]:
            sha1 = store.keep_picture(picture)
            store.record_feedback(sha1, Answer("base", "shirt", "red"), Correction(category, "red"))
        for queued in store.review_queue(limit=100).items:
            store.decide(queued.item.id)
    finally:
        store.close()
    yield url, sideways


def test_retraining_with_corrections_changes_the_answer_and_is_promoted(base, environment, features, corrections,
                                                                       capsys, tmp_path, drawn):
    database, sideways = corrections
    without = retrained(base, tmp_path / "without", 8, features)
    wrong = [picture for picture in sideways if answer(without, picture) != "pants"]
    assert wrong, "the model trained without corrections names every sideways pants picture right"
    with_feedback = retrained(base, tmp_path / "with", 8, features, "--feedback", database)
    assert answer(with_feedback, wrong[0]) == "pants"
    counts = json.loads((tmp_path / "with" / "metrics.json").read_text())["split"]["counts"]
    base_counts = json.loads((base / "metrics.json").read_text())["split"]["counts"]
    feedback = json.loads((tmp_path / "with" / "metrics.json").read_text())["split"]["feedback"]
    assert (feedback["accepted"], feedback["added"], feedback["left_split"]) == (13, 13, {"test": 1})
    assert counts == {"train": base_counts["train"] + 13, "validation": base_counts["validation"],
                      "test": base_counts["test"] - 1}  # the corrected test picture moved to train with the 12

    server = environment
    old, _ = versions(server)
    client = create_app().test_client()
    picture, headers = jpeg_bytes(drawn("shirt", "red", 77, (96, 128))), {"X-API-Key": "test-key"}
    first = client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=headers).json
    cached = client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=headers).json
    assert (first["version"], first["cached"], cached["cached"]) == (old, False, True)

    status, out, err = promote(with_feedback, server, base / "split.json", capsys, "--feedback", database)
    print(out)
    new = bundle_version(with_feedback)
    assert status == 0, err
    assert "promoted" in out and "1 left out as corrected pictures" in out
    assert f"n={base_counts['test'] - 1}" in out
    assert versions(server) == (new, {old, new})
    time.sleep(1.1)  # the API looks the default version up at most once a second
    after = client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=headers).json
    assert (after["version"], after["cached"]) == (new, False)  # the old version's cached answer is not served
    again = client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=headers).json
    assert (again["version"], again["cached"]) == (new, True)
    restarted = TorchServe(server.store, tmp_path / "restarted").start()  # as the stack revives a dead one
    try:
        assert "promoted default" in register_served(restarted, "shoplens.mar")
        assert versions(restarted) == (new, {old, new})
    finally:
        restarted.stop()


def test_bad_input_registers_nothing(base, environment, features, capsys, tmp_path, monkeypatch):
    server, split = environment, base / "split.json"
    before, stores = versions(server), sorted(p.name for p in server.store.iterdir())
    status, _, err = promote(tmp_path / "no-bundle", server, split, capsys)
    assert status == 2 and "no-bundle" in err
    narrow = retrained(base, tmp_path / "narrow", 1, features, "--categories", "dress,shirt")
    status, _, err = promote(narrow, server, split, capsys)
    assert status == 2 and "pants" in err
    status, _, err = promote(base / "bundle", server, split, capsys, "--feedback", f"sqlite:///{tmp_path}/typo.db")
    assert status == 2 and "no such SQLite file" in err and not (tmp_path / "typo.db").exists()
    assert train(lite_args(tmp_path / "run", 1, features, "--split", str(split), "--feedback", "nonsense://x")) == 2
    assert "cannot be read" in capsys.readouterr().err and not (tmp_path / "run").exists()
    monkeypatch.setenv("SHOPLENS_TORCHSERVE_MANAGEMENT_URLS", "http://127.0.0.1:9")  # nothing listens there
    status, _, err = promote(base / "bundle", server, split, capsys)
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
