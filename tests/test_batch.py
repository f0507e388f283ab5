"""The Spark batch job in a real local Spark (one session for the module, local[2]): drawn pictures plus
a corrupt file and a non-image, answered as the TorchServe handler answers them; atomic re-runs;
incremental runs; a manifest's true labels in the report."""

import csv
import hashlib
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from serving.batch.cli import main as batch_main
from serving.batch.job import classify, spark_session
from serving.batch.report import write_report
from serving.worker.handler import ShopLensHandler
from shoplens import settings
from shoplens.sample import write_sample

PROBABILITY_TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, tiny_data, train, fast_args) -> Path:
    out = tmp_path_factory.mktemp("batch-model") / "run"
    assert train(fast_args(tiny_data, out)) == 0
    return out / "bundle"


@pytest.fixture(scope="module")
def spark():
    session = spark_session("local[2]", threads=1, batch_rows=16)
    yield session
    session.stop()


@pytest.fixture(scope="module")
def pictures(tmp_path_factory) -> Path:
    """Drawn garments (two sizes) in folders, a truncated JPEG, a text file, a zero-byte file (which Spark's file
    source skips) and a hidden zero-byte file (which the job skips, as Spark does)."""
    root = tmp_path_factory.mktemp("batch-pictures")
    write_sample(root, ["dress", "pants"], ["red"], per_label=3, size=(48, 64), seed=3)
    write_sample(root / "large", ["shirt"], ["blue"], per_label=2, size=(120, 90), seed=4)
    whole = (root / "dress" / "red" / "0000.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(whole[:len(whole) // 2])
    (root / "notes.txt").write_text("not a picture\n")
    (root / "large" / "empty.jpg").write_bytes(b"")
    (root / ".partial.jpg").write_bytes(b"")
    return root


def handler_answers(bundle: Path, paths: list[Path]) -> list[dict]:
    handler = ShopLensHandler()
    handler.initialize(SimpleNamespace(system_properties={"model_dir": str(bundle), "gpu_id": None},
                                       model_yaml_config={}))
    return handler.postprocess(handler.inference(handler.preprocess([{"body": p.read_bytes()} for p in paths])))


def local_path(source: str) -> Path:
    return Path(source.removeprefix("file:"))


def test_answers_equal_the_handlers_and_bad_pictures_are_error_rows(spark, bundle, pictures, tmp_path):
    out = str(tmp_path / "answers")
    assert classify(spark, bundle, str(pictures), out) == {"inputs": 11, "pictures": 11, "errors": 3}
    rows = pd.read_parquet(out).sort_values("source").reset_index(drop=True)
    bad = rows[rows["error"].notna()]
    assert dict(zip(bad["source"].map(lambda s: local_path(s).name), bad["error"], strict=True)) == {
        "truncated.jpg": "truncated", "notes.txt": "not_an_image", "empty.jpg": "empty"}
    assert bad["labels"].isna().all() and bad["embedding"].isna().all() and bad["copy_embedding"].isna().all()
    good = rows[rows["error"].isna()]
    expected = handler_answers(bundle, [local_path(s) for s in good["source"]])
    for (_, row), answer in zip(good.iterrows(), expected, strict=True):
        assert [label["label"] for label in row["labels"]] == [label["label"] for label in answer["labels"]]
        assert np.allclose([label["probability"] for label in row["labels"]],
                           [label["probability"] for label in answer["labels"]], atol=PROBABILITY_TOLERANCE)
        assert (row["category"], row["colour"], row["low_confidence"]) == (
            answer["category"], answer["colour"]["label"], answer["low_confidence"])
        assert abs(row["colour_probability"] - answer["colour"]["probability"]) < PROBABILITY_TOLERANCE
        assert (row["model"], row["version"]) == (answer["model"], answer["version"])
        assert all(abs(np.linalg.norm(row[name]) - 1) < 1e-5 for name in ("embedding", "copy_embedding"))
        picture = local_path(row["source"])
        assert row["sha1"] == hashlib.sha1(picture.read_bytes()).hexdigest()
        assert (row["width"], row["height"]) == ((120, 90) if "large" in picture.parts else (48, 64))


def test_a_rerun_replaces_the_output_and_an_incremental_run_skips_what_exists(spark, bundle, pictures, tmp_path):
    folder = Path(shutil.copytree(pictures / "dress", tmp_path / "pictures" / "dress"))
    first = str(tmp_path / "first")
    assert classify(spark, bundle, str(folder.parent), first)["pictures"] == 3
    write_sample(folder.parent / "more", ["pants"], ["red"], per_label=2, size=(48, 64), seed=9)
    # the same job again into the same place: only the new run's rows, no staging folder left behind
    assert classify(spark, bundle, str(folder.parent / "more"), first)["pictures"] == 2
    assert set(pd.read_parquet(first)["source"].str.contains("/more/")) == {True}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    everything = str(tmp_path / "everything")
    classify(spark, bundle, str(folder.parent), everything)
    increment = str(tmp_path / "increment")
    write_sample(folder.parent / "newest", ["shirt"], ["blue"], per_label=1, size=(48, 64), seed=11)
    assert classify(spark, bundle, str(folder.parent), increment, skip_existing=everything)["pictures"] == 1
    assert pd.read_parquet(increment)["source"].str.contains("/newest/").all()


def test_a_manifest_carries_true_labels_into_the_report(spark, bundle, tiny_data, tmp_path):
    manifest = tmp_path / "manifest.csv"
    paths = sorted(tiny_data.rglob("*.jpg"))[:12]
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["path", "category", "colour"])
        writer.writeheader()
        for path in paths:
            writer.writerow({"path": str(path), "category": path.parent.parent.name, "colour": path.parent.name})
        writer.writerow({"path": "gone.jpg", "category": "dress", "colour": "red"})
    out = str(tmp_path / "answers")
    assert classify(spark, bundle, str(manifest), out) == {"inputs": 13, "pictures": 13, "errors": 1}
    rows = pd.read_parquet(out)
    assert rows.loc[rows["source"].str.endswith("gone.jpg"), "error"].tolist() == ["unreadable"]
    page = write_report(out, tmp_path / "report", top=3)
    text = page.read_text()
    answered = rows[rows["error"].isna()]
    for label, group in answered.groupby("true_category"):
        correct = int((group["category"] == label).sum())
        assert f"<td>{label}</td>\n      <td>{len(group)}</td>\n      <td>{correct}</td>" in text
    assert {p.name for p in page.parent.glob("*.png")} >= {"category.png", "confidence.png", "accuracy.png"}
    wrong = answered[answered["true_category"] != answered["category"]]
    shown = sorted(page.parent.glob("thumbs/mistake-*.jpg"))
    assert len(shown) == min(len(wrong), 24) and text.count(" taken for ") == len(shown)  # the mistakes, shown


def test_the_visual_search_index_is_built_from_the_output_without_embedding_again(spark, bundle, tiny_data,
                                                                                   tmp_path):
    """`shoplens-index build --answers`: the job's embeddings, the manifest's product URLs, the same
    vectors as embedding the crawl again; error rows are counted, and another model's index refused."""
    from serving.index.build import build_index, build_index_from_answers
    from serving.index.live import load_current

    manifest = tmp_path / "crawl" / "manifest.csv"
    manifest.parent.mkdir()
    paths = sorted(tiny_data.rglob("*.jpg"))[:6]
    with manifest.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["path", "category", "colour", "page_url", "source_url"])
        writer.writeheader()
        for number, path in enumerate(paths):
            writer.writerow({"path": str(path), "category": path.parent.parent.name, "colour": path.parent.name,
                             "page_url": f"https://shop.example/products/{number}",
                             "source_url": f"https://cdn.shop.example/{number}.jpg"})
        writer.writerow({"path": "gone.jpg", "category": "dress", "colour": "red", "page_url": "", "source_url": ""})
    out = tmp_path / "answers"
    assert classify(spark, bundle, str(manifest), str(out)) == {"inputs": 7, "pictures": 7, "errors": 1}
    report = build_index_from_answers(out, tmp_path / "from-answers", manifest)
    assert (report.items, report.embedded, report.skipped) == (6, 0, {"error row": 1})
    build_index(manifest, bundle, tmp_path / "embedded", progress=lambda _: None)
    from_answers, embedded = load_current(tmp_path / "from-answers"), load_current(tmp_path / "embedded")
    assert from_answers.model_version == embedded.model_version
    order = {item["page_url"]: row for row, item in enumerate(embedded.items)}
    assert {item["page_url"] for item in from_answers.items} == {f"https://shop.example/products/{n}" for n in range(6)}
    for row, item in enumerate(from_answers.items):
        twin = embedded.items[order[item["page_url"]]]
        assert (item["picture_url"], item["category"], item["colour"], item["shop"]) == (
            twin["picture_url"], twin["category"], twin["colour"], "shop.example")
        assert np.allclose(from_answers.vectors[row], embedded.vectors[order[item["page_url"]]], atol=1e-5)
        # the keypoints read again from the job's source pictures: the same as the build's from the manifest
        assert np.array_equal(from_answers.copies.local[row].descriptors,
                              embedded.copies.local[order[item["page_url"]]].descriptors)
    assert report.without_keypoints == 0 and "keypoints" in report.copies
    again = build_index_from_answers(out, tmp_path / "from-answers", manifest)
    assert again.skipped["already indexed"] == 6 and again.items == 6


def test_skip_existing_may_not_name_the_output(tmp_path, capsys):
    out = str(tmp_path / "answers")
    assert batch_main(["classify", "--bundle", "b", "--input", "i", "--out", out, "--skip-existing", out]) == 2
    assert "--skip-existing" in capsys.readouterr().err


def test_the_starter_model_flags_pictures_that_show_no_garment(spark, tmp_path, root):
    """The starter bundle (no exports: the driver exports it to ONNX once) in the job: sample photographs are
    no garment, real clothing photographs (where clothing-small is on this machine) are."""
    import skimage.data
    from PIL import Image

    folder = tmp_path / "pictures"
    folder.mkdir()
    for name in ("coffee", "chelsea", "rocket"):
        Image.fromarray(getattr(skimage.data, name)()).convert("RGB").save(folder / f"{name}.jpg")
    clothing = root / settings.CLOTHING_SMALL.read() / "validation"
    garments = sorted((clothing / "pants").glob("*.jpg"))[:2] + sorted((clothing / "dress").glob("*.jpg"))[:2]
    for path in garments:
        shutil.copy(path, folder / f"garment-{path.parent.name}-{path.name}")
    out = str(tmp_path / "answers")
    assert classify(spark, root / "models" / "starter", str(folder), out) == {
        "inputs": 3 + len(garments), "pictures": 3 + len(garments), "errors": 0}
    rows = pd.read_parquet(out)
    shows_garment = dict(zip(rows["source"].map(lambda s: local_path(s).name), rows["garment"], strict=True))
    assert shows_garment == {**{f"{name}.jpg": False for name in ("coffee", "chelsea", "rocket")},
                             **{f"garment-{p.parent.name}-{p.name}": True for p in garments}}
    assert all(category in categories for category, categories in zip(rows["category"], rows["categories"],
                                                                        strict=True))
    assert set(rows["colour_source"]) == {"model"}  # the starter's colour model, as the handler answers
    assert rows["colour_probability"].between(0, 1).all()
