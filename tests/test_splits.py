import json
from collections import Counter
from pathlib import Path

import pytest

from shoplens import ShopLensError
from training.splits import count_leaks, load_split, make_split, parse_scheme, save_split


def _add_near_duplicates(root: Path, count: int) -> list[tuple[Path, Path]]:
    """Resized, re-encoded copies of `count` pictures, under the same label."""
    from PIL import Image

    pairs = []
    for original in sorted(root.rglob("*.jpg"))[:count]:
        copy = original.with_name(f"copy-{original.name}")
        with Image.open(original) as image:
            image.resize((40, 54)).save(copy, quality=35)
        pairs.append((original, copy))
    return pairs


def test_near_duplicates_never_cross_splits(data_copy):
    pairs = _add_near_duplicates(data_copy, 12)
    split = make_split(data_copy, "60/20/20", seed=3, max_distance=4)
    where = {s.path: s.split for s in split.samples}
    assert all(where[a] == where[b] for a, b in pairs)
    assert count_leaks(split.samples, 4) == 0


def test_split_is_stratified_and_complete(tiny_data):
    split = make_split(tiny_data, "60/20/20", seed=0, max_distance=0)
    assert sum(split.counts().values()) == 48
    for label in {s.label for s in split.samples}:
        per_split = Counter(s.split for s in split.samples if s.label == label)
        assert per_split["train"] >= 4 and per_split["validation"] >= 1 and per_split["test"] >= 1


def test_fifty_fifty_scheme_has_no_test(tiny_data):
    split = make_split(tiny_data, "50/50", seed=0, max_distance=0)
    assert split.counts() == {"train": 24, "validation": 24, "test": 0}


def test_split_file_round_trip_and_seed(tiny_data, tmp_path):
    split = make_split(tiny_data, "60/20/20", seed=7)
    save_split(split, tmp_path / "split.json")
    again = load_split(tmp_path / "split.json")
    assert [(s.path, s.split, s.phash) for s in again.samples] == [(s.path, s.split, s.phash) for s in split.samples]
    assert [s.split for s in make_split(tiny_data, "60/20/20", seed=7).samples] == [s.split for s in split.samples]


def test_folders_scheme_counts_leaks(tmp_path, tiny_data):
    import shutil

    shutil.copytree(tiny_data, tmp_path / "train")
    shutil.copytree(tiny_data / "dress", tmp_path / "validation" / "dress")
    shutil.copytree(tiny_data / "pants", tmp_path / "validation" / "pants")
    split = make_split(tmp_path, "folders", max_distance=0)
    assert split.counts() == {"train": 48, "validation": 32, "test": 0}
    assert split.leaks >= 32  # every validation picture is also in train


@pytest.mark.parametrize("scheme", ["60/20", "a/b", "0/50/50", "100", "60/0/40"])
def test_bad_schemes(scheme):
    if scheme == "60/20":
        assert parse_scheme(scheme) == pytest.approx((0.75, 0.25, 0.0))
    else:
        with pytest.raises(ShopLensError):
            parse_scheme(scheme)


def test_corrupt_split_file(tmp_path):
    bad = tmp_path / "split.json"
    bad.write_text('{"format": 1, "samples": [')
    with pytest.raises(ShopLensError, match="corrupt"):
        load_split(bad)
    bad.write_text(json.dumps({"format": 99}))
    with pytest.raises(ShopLensError):
        load_split(bad)


def test_manifest_is_a_data_source(tiny_data, tmp_path):
    from shoplens.manifest import append_rows

    manifest = tmp_path / "manifest.csv"
    pictures = sorted(tiny_data.rglob("*.jpg"))
    rows = [{"path": str(p), "category": p.parent.parent.name, "colour": ""} for p in pictures]
    rows.append({"path": "missing.jpg", "category": "dress", "colour": "red"})
    append_rows(manifest, rows[:10])
    append_rows(manifest, rows[10:])
    split = make_split(manifest, "50/50", max_distance=0)
    assert len(split.samples) == len(pictures) and split.skipped == {"unreadable": 1}
    assert {s.colour for s in split.samples} == {None}


def test_manifest_without_required_columns(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("url,label\nx,y\n")
    with pytest.raises(ShopLensError, match="lacks column"):
        make_split(manifest)
