"""Visual search: a real FAISS index built by `shoplens-index` from a crawl of the test shop, embedded
by the session TorchServe's bundle, searched through POST /v1/similar in front of that TorchServe."""

import csv
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from crawler.testshop import Catalogue, serve_shop
from serving.api import create_app
from serving.index.alterations import crop, flip, jpeg, rotate
from serving.index.format import CopyViews, current_name, write_version
from serving.index.live import RECHECK_SECONDS
from serving.index.local import local_features, query_features
from serving.index.ranking import CATEGORY_PRIOR, CatalogueIndex, Filters, category_prior
from serving.operations.archive import archive
from serving.operations.cli import STARTER_BUNDLE
from serving.operations.torchserve import TorchServe
from shoplens.imaging import jpeg_bytes

CATEGORIES, COLOURS = ["dress", "shirt", "pullover"], ["red", "blue"]


def index_cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "serving.index", *argv], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def crawl(tmp_path_factory, root):
    """A crawl of the test shop (2 products per label): its folder and manifest rows."""
    out = tmp_path_factory.mktemp("similar") / "crawl"
    with serve_shop(Catalogue.build(CATEGORIES, COLOURS, per_label=2)) as (url, _):
        result = subprocess.run([sys.executable, "-m", "crawler", "crawl", "--start", url, "--categories",
                                 ",".join(CATEGORIES), "--colours", ",".join(COLOURS), "--out", str(out),
                                 "--no-throttle"], capture_output=True, text=True, timeout=300, cwd=root)
    assert result.returncode == 0, result.stderr[-3000:]
    with (out / "manifest.csv").open(encoding="utf-8") as handle:
        return out, list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def index_dir(crawl, served_bundle, tmp_path_factory):
    out, rows = crawl
    folder = tmp_path_factory.mktemp("index") / "catalogue"
    result = index_cli("build", "--manifest", str(out / "manifest.csv"), "--bundle", str(served_bundle),
                       "--index", str(folder))
    assert result.returncode == 0, result.stderr
    assert f"{len(rows)} items ({len(rows)} pictures embedded, 0 vectors reused)" in result.stdout
    return folder


def distinct_products(rows: list[dict]) -> list[dict]:
    """Rows of the shop's regular products: the test shop also sells duplicate and near-duplicate pictures
    under other pages, which rightly rank as high."""
    return [row for row in rows if "/p/p" in row["page_url"]]


@pytest.fixture()
def search(settings, index_dir):
    settings.index_dir = str(index_dir)
    return create_app(settings).test_client()


def altered(picture: bytes) -> bytes:
    """A re-encoded copy: half the size, JPEG quality 40. (The session's model is a two-epoch toy whose
    embeddings of same-label drawings are all alike; the benchmark measures crops, flips and rotations
    with the real model: bench/visual_search.py.)"""
    image = Image.open(io.BytesIO(picture)).convert("RGB")
    return jpeg_bytes(image.resize((image.width // 2, image.height // 2)), 40)


def off_centre_copy(picture: bytes) -> bytes:
    """A copy as reverse image search meets one: 80 % cut near the top right corner, mirrored, JPEG quality 40."""
    return jpeg_bytes(jpeg(flip(crop(Image.open(io.BytesIO(picture)).convert("RGB"), (0.85, 0.2)))), 40)


PHOTOGRAPHS = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",
               "camera", "coins", "moon")


@pytest.fixture(scope="module")
def photographs(crawl, tmp_path_factory) -> tuple[Path, list[dict]]:
    """The crawl's manifest plus a second shop selling scikit-image's photographs (JPEG, as shops serve them):
    the drawn garments of the test shop are one template each, near-identical to a copy descriptor once
    cut to 80 % and mirrored, where photographs, like shops' product shots, differ in detail."""
    import skimage.data

    out, rows = crawl
    folder = tmp_path_factory.mktemp("photographs")
    added = []
    for name in PHOTOGRAPHS:
        path = folder / f"{name}.jpg"
        path.write_bytes(jpeg_bytes(Image.fromarray(getattr(skimage.data, name)()).convert("RGB")))
        added.append({**rows[0], "path": str(path), "category": "photograph", "colour": "",
                      "source_url": f"http://127.0.0.3/img/{name}.jpg", "page_url": f"http://127.0.0.3/p/{name}",
                      "sha1": ""})
    manifest = folder / "manifest.csv"
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([{**row, "path": str(out / row["path"])} for row in rows] + added)
    return manifest, added


@pytest.fixture(scope="module")
def starter_search(photographs, serving_stack, tmp_path_factory):
    """/v1/similar in front of a TorchServe serving the starter model (eager, as `shoplens-serve up` serves
    it), over an index of the crawl and the photographs built with the starter."""
    manifest, _ = photographs
    root = tmp_path_factory.mktemp("starter-similar")
    built = index_cli("build", "--manifest", str(manifest), "--bundle", str(STARTER_BUNDLE),
                      "--runtime", "eager", "--index", str(root / "index"))
    assert built.returncode == 0 and "threshold 0." in built.stdout and "verified from" in built.stdout, built.stderr
    mar = archive(STARTER_BUNDLE, root / "store")
    server = TorchServe(root / "store", root / "work").start()
    try:
        server.register(mar.name)
        settings = serving_stack.settings(torchserve_urls=[server.inference_url],
                                          management_urls=[server.management_url], key_files=[str(server.key_file)],
                                          index_dir=str(root / "index"), database_url=f"sqlite:///{root / 'c.db'}")
        yield create_app(settings).test_client()
    finally:
        server.stop()


@pytest.mark.timeout(600)
def test_a_cropped_mirrored_recompressed_copy_finds_its_product_first_marked_copy(starter_search, photographs,
                                                                                   headers):
    """An 80 % crop off the centre, mirrored and recompressed at JPEG quality 40: with the starter model its
    own product comes first, marked as a copy (near-duplicate); products that are no copy come after it."""
    _, rows = photographs
    for row in rows:
        sent = off_centre_copy(Path(row["path"]).read_bytes())
        answer = starter_search.post("/v1/similar?k=5", data=sent, content_type="image/jpeg", headers=headers)
        assert answer.status_code == 200, answer.json
        first = answer.json["results"][0]
        assert (first["page_url"], first["match"]) == (row["page_url"], "copy")
        assert answer.json["results"][-1]["match"] == "similar"


def test_indexed_picture_and_its_altered_copy_find_their_product_first(search, crawl, headers):
    """The picture itself and a re-encoded copy: its own product first, marked as a copy (a near-duplicate),
    the other products after it marked similar."""
    out, rows = crawl
    for row in distinct_products(rows):
        picture = (out / row["path"]).read_bytes()
        for sent in (picture, altered(picture)):
            answer = search.post("/v1/similar?k=5", data=sent, content_type="image/jpeg", headers=headers)
            assert answer.status_code == 200, answer.json
            first = answer.json["results"][0]
            assert (first["page_url"], first["picture_url"], first["match"]) == (row["page_url"], row["source_url"],
                                                                                 "copy")
            assert answer.json["results"][-1]["match"] == "similar"
            assert first["picture_url"].startswith("http")
            assert answer.json["query"]["category"] and answer.json["query"]["labels"]
        similar = [result["score"] for result in answer.json["results"] if result["match"] == "similar"]
        assert similar == sorted(similar, reverse=True)
    parts = dict(part.split(";dur=") for part in answer.headers["Server-Timing"].split(", "))
    assert set(parts) == {"model", "keypoints", "copies", "search"}
    assert float(parts["model"]) > 0 and float(parts["search"]) > 0
    again = search.post("/v1/similar?k=5", data=sent, content_type="image/jpeg", headers=headers)
    assert again.json["cached"] and again.json["results"] == answer.json["results"]
    assert "Server-Timing" not in again.headers  # nothing was computed


def test_one_result_per_product_and_filters_hold(search, crawl, headers):
    out, rows = crawl
    picture = (out / rows[0]["path"]).read_bytes()
    everything = search.post("/v1/similar?k=50", data=picture, content_type="image/jpeg", headers=headers).json
    pages = [result["page_url"] for result in everything["results"]]
    assert len(pages) == len(set(pages)) == len({row["page_url"] for row in rows})
    matches = [result["match"] for result in everything["results"]]
    assert matches[0] == "copy" and matches == sorted(matches)  # the picture's own products first, then the rest
    similar = [result for result in everything["results"] if result["match"] == "similar"]
    assert [result["score"] for result in similar] == sorted((r["score"] for r in similar), reverse=True)
    assert all(-1 <= result["score"] <= 1 for result in similar)  # the expanded query's cosine
    ranked = search.post("/v1/similar?k=50&rank=category", data=picture, content_type="image/jpeg",
                         headers=headers).json
    assert not ranked["cached"]  # a ranking of its own, cached apart
    assert [r for r in ranked["results"] if r["match"] == "copy"] == [r for r in everything["results"]
                                                                      if r["match"] == "copy"]
    ranked_similar = [result for result in ranked["results"] if result["match"] == "similar"]
    scores = [result["score"] for result in ranked_similar]
    assert scores == sorted(scores, reverse=True)
    prior = category_prior(ranked["query"]["labels"])
    for result in ranked_similar:
        expected = result["similarity"] + CATEGORY_PRIOR * prior.get(result["category"], 0.0)
        assert result["score"] == pytest.approx(expected, abs=2e-4)
    shirts = search.post("/v1/similar?k=50&category=shirt&colour=blue", data=picture, content_type="image/jpeg",
                         headers=headers).json["results"]
    assert shirts and {(r["category"], r["colour"]) for r in shirts} == {("shirt", "blue")}
    assert len(shirts) == sum(row["category"] == "shirt" and row["colour"] == "blue" for row in rows)
    none = search.post("/v1/similar?shop=elsewhere.example", data=picture, content_type="image/jpeg", headers=headers)
    assert none.status_code == 200 and none.json["results"] == []


def test_bad_input_is_4xx_with_a_reason_and_fits_the_contract(search, headers, picture, conforms):
    document = search.get("/openapi.json").json
    body = picture("dress", "red", seed=80)
    cases = [("/v1/similar?k=0", dict(data=body, content_type="image/jpeg", headers=headers), 400),
             ("/v1/similar?k=51", dict(data=body, content_type="image/jpeg", headers=headers), 400),
             ("/v1/similar?rank=price", dict(data=body, content_type="image/jpeg", headers=headers), 400),
             ("/v1/similar", dict(data=b"not a picture", content_type="image/jpeg", headers=headers), 422),
             ("/v1/similar", dict(data=body, content_type="image/jpeg"), 401),
             ("/v1/similar", dict(json={"url": "http://10.0.0.1/x.jpg"}, headers=headers), 400),
             ("/v1/similar", dict(data=body, content_type="image/jpeg", headers=headers), 200)]
    for path, arguments, status in cases:
        response = search.post(path, **arguments)
        assert response.status_code == status, response.json
        assert status == 200 or response.json["error"]
        conforms(document, "/v1/similar", "post", response)


def test_no_index_and_another_models_index_are_503_with_the_reason(settings, headers, picture, tmp_path, index_dir):
    settings.index_dir = str(tmp_path / "missing")
    response = create_app(settings).test_client().post("/v1/similar", data=picture(), content_type="image/jpeg",
                                                       headers=headers)
    assert response.status_code == 503 and "no catalogue index built" in response.json["error"]
    live = CatalogueIndex(index_dir / current_name(index_dir))
    assert live.copies is not None  # refused with its copy index too
    write_version(tmp_path / "other", np.asarray(live.vectors), live.items, "19990101000000", "simple_cnn",
                  live.copies)
    settings.index_dir = str(tmp_path / "other")
    response = create_app(settings).test_client().post("/v1/similar", data=picture(), content_type="image/jpeg",
                                                       headers=headers)
    assert response.status_code == 503 and "built with model version 19990101000000" in response.json["error"]


def test_updates_append_without_reembedding_remove_a_shop_and_reach_a_running_api(
        settings, headers, crawl, served_bundle, tmp_path, index_dir):
    out, rows = crawl
    folder = tmp_path / "catalogue"
    assert index_cli("build", "--manifest", str(out / "manifest.csv"), "--bundle", str(served_bundle),
                     "--index", str(folder)).returncode == 0
    settings.index_dir = str(folder)
    client = create_app(settings).test_client()
    picture = (out / rows[0]["path"]).read_bytes()
    first = client.post("/v1/similar", data=picture, content_type="image/jpeg", headers=headers).json
    # the same pictures sold by a second shop: vectors reused, nothing embedded again
    mirror = out / "mirror.csv"
    with mirror.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({**row, "page_url": row["page_url"].replace("127.0.0.1", "127.0.0.2")} for row in rows)
    again = index_cli("build", "--manifest", str(mirror), "--bundle", str(served_bundle), "--index", str(folder))
    assert f"{2 * len(rows)} items (0 pictures embedded, {len(rows)} vectors reused); skipped: none" in again.stdout
    assert "already indexed" in index_cli("build", "--manifest", str(mirror), "--bundle", str(served_bundle),
                                          "--index", str(folder)).stdout
    time.sleep(RECHECK_SECONDS + 0.1)
    second = client.post("/v1/similar?k=50", data=picture, content_type="image/jpeg", headers=headers).json
    assert second["index_version"] != first["index_version"]
    assert {r["shop"] for r in second["results"]} == {"127.0.0.1", "127.0.0.2"}
    # the new version's copy index: the second shop's copies of the picture's views are found by the running API
    copy_info = [json.loads((folder / name / "index.json").read_text())["copy"]
                 for name in (first["index_version"], second["index_version"])]
    assert copy_info[1]["views"] == 2 * copy_info[0]["views"] and copy_info[1]["threshold"] == copy_info[0]["threshold"]
    assert {r["shop"] for r in second["results"] if r["match"] == "copy"} == {"127.0.0.1", "127.0.0.2"}
    assert {r["shop"] for r in first["results"] if r["match"] == "copy"} == {"127.0.0.1"}
    removed = index_cli("remove-shop", "--index", str(folder), "--shop", "127.0.0.1")
    assert removed.returncode == 0 and f"{len(rows)} items of 127.0.0.1 removed" in removed.stdout
    time.sleep(RECHECK_SECONDS + 0.1)
    third = client.post("/v1/similar?k=50", data=picture, content_type="image/jpeg", headers=headers).json
    assert {r["shop"] for r in third["results"]} == {"127.0.0.2"}
    assert third["results"][0]["page_url"] == rows[0]["page_url"].replace("127.0.0.1", "127.0.0.2")
    assert third["results"][0]["match"] == "copy"


def test_index_from_another_bundle_is_not_extended_and_bad_input_is_one_line(tmp_path, crawl, served_bundle,
                                                                            index_dir):
    out, _ = crawl
    live = CatalogueIndex(index_dir / current_name(index_dir))
    write_version(tmp_path / "old", np.asarray(live.vectors), live.items, "19990101000000", "simple_cnn")
    result = index_cli("build", "--manifest", str(out / "manifest.csv"), "--bundle", str(served_bundle),
                       "--index", str(tmp_path / "old"))
    assert result.returncode == 2 and "built with model version 19990101000000" in result.stderr
    missing = index_cli("build", "--manifest", str(tmp_path / "none.csv"), "--bundle", str(served_bundle),
                        "--index", str(tmp_path / "new"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and not (tmp_path / "new").exists()


def test_ties_go_to_the_larger_picture_and_products_collapse_to_their_best(tmp_path):
    vectors = np.eye(4, dtype=np.float32)[[0, 0, 0, 1]]
    items = [{"sha1": str(n), "page_url": page, "picture_url": f"{n}.jpg", "category": "dress", "colour": "red",
              "shop": "a", "width": side, "height": side}
             for n, (page, side) in enumerate([("p1", 100), ("p2", 400), ("p2", 50), ("p3", 100)])]
    write_version(tmp_path, vectors, items, "1", "x")
    index = CatalogueIndex(tmp_path / current_name(tmp_path))
    hits = index.search(np.eye(4, dtype=np.float32)[0], 3)
    assert [(hit.item["page_url"], hit.item["picture_url"]) for hit in hits] == [("p2", "1.jpg"), ("p1", "0.jpg"),
                                                                                  ("p3", "3.jpg")]
    assert index.search(np.eye(4, dtype=np.float32)[0], 3, Filters(shop="b")) == []
    assert json.loads((tmp_path / current_name(tmp_path) / "index.json").read_text())["kind"] == "flat"


def test_the_query_category_prior_reranks_within_its_weight(tmp_path):
    """A product of the category the model sees in the query outranks a slightly more similar one of
    another category; one more similar by more than the prior's weight stays first."""
    query = np.asarray([1.0, 0.0], dtype=np.float32)
    similarities = [0.9, 0.9 - CATEGORY_PRIOR / 2, 0.9 - 2 * CATEGORY_PRIOR]
    vectors = np.asarray([[s, np.sqrt(1 - s * s)] for s in similarities], dtype=np.float32)
    items = [{"sha1": str(n), "page_url": f"p{n}", "picture_url": f"{n}.jpg", "category": category, "colour": "",
              "shop": "a", "width": 10, "height": 10} for n, category in enumerate(["shirt", "dress", "dress"])]
    write_version(tmp_path, vectors, items, "1", "x")
    index = CatalogueIndex(tmp_path / current_name(tmp_path))
    assert [hit.item["page_url"] for hit in index.search(query, 3)] == ["p0", "p1", "p2"]
    prior = category_prior([{"label": "dress", "probability": 1.0}, {"label": "shirt", "probability": 0.0}])
    hits = index.search(query, 3, prior=prior, expansion=0)
    assert [hit.item["page_url"] for hit in hits] == ["p1", "p0", "p2"]
    assert hits[0].similarity == pytest.approx(similarities[1], abs=1e-6)
    assert hits[0].score == pytest.approx(similarities[1] + CATEGORY_PRIOR, abs=1e-6)
    assert [hit.item["page_url"] for hit in index.search(query, 3, Filters(category="shirt"), prior)] == ["p0"]


def test_keypoints_verify_an_altered_copy_where_the_copy_descriptor_cannot_tell(tmp_path):
    """Every picture's copy descriptor made the same, so that only verification can tell them apart: an
    altered copy of one photograph (cut off-centre, mirrored, rotated, recompressed) comes back first,
    marked copy with its inliers, and no other photograph is marked copy; without the query's keypoints the
    index falls back to its threshold. The keypoints survive the version's round trip and a shop's removal."""
    import skimage.data

    photographs = [Image.fromarray(getattr(skimage.data, name)()).convert("RGB") for name in PHOTOGRAPHS]
    items = [{"sha1": str(n), "page_url": f"http://127.0.0.{1 + n % 2}/p/{n}", "picture_url": f"{n}.jpg",
              "category": "photograph", "colour": "", "shop": f"127.0.0.{1 + n % 2}", "width": 1, "height": 1}
             for n in range(len(photographs))]
    vectors = np.eye(len(photographs), dtype=np.float32)
    copies = CopyViews(np.ones((len(photographs), 4), np.float32) / 2, np.arange(len(photographs)), threshold=1.5,
                       min_inliers=15).with_local([local_features(photo) for photo in photographs])
    write_version(tmp_path, vectors, items, "1", "x", copies)
    index = CatalogueIndex(tmp_path / current_name(tmp_path))
    for n, photo in enumerate(photographs[:4]):
        copy = Image.open(io.BytesIO(off_centre_copy(jpeg_bytes(rotate(photo))))).convert("RGB")
        hits = index.search(vectors[(n + 1) % len(photographs)], 3, copy_query=np.full(4, 0.5, np.float32),
                            local_query=query_features(copy))
        assert (hits[0].item["sha1"], hits[0].match) == (str(n), "copy") and hits[0].inliers >= 15
        assert [hit.match for hit in hits[1:]] == ["similar", "similar"]
        unverified = index.search(vectors[(n + 1) % len(photographs)], 3, copy_query=np.full(4, 0.5, np.float32))
        assert unverified[0].item["sha1"] == str((n + 1) % len(photographs)) and unverified[0].match == "similar"
    kept = index.copies.kept(np.arange(0, len(photographs), 2))
    assert [len(kept.local[row]) for row in range(len(kept.local))] == [
        len(index.copies.local[row]) for row in range(0, len(photographs), 2)]


def test_after_a_clear_copy_only_candidates_at_the_copy_threshold_are_verified(tmp_path):
    """Photograph 0 listed three times: twice with its own copy descriptor (two shops), once with a far one
    (a view stored cropped beyond recognition by the descriptor). An altered copy of it finds the first
    listing a clear copy, so the second (at the threshold) is verified and marked copy too, the far one
    (under it) is not verified; the others are never copies. Without a clear copy all three are verified."""
    import skimage.data

    photographs = [Image.fromarray(getattr(skimage.data, name)()).convert("RGB") for name in PHOTOGRAPHS[:6]]
    listed = [0, 0, *range(1, 6), 0]  # the far listing of photograph 0 last
    items = [{"sha1": str(n), "page_url": f"http://127.0.0.1/p/{n}", "picture_url": f"{n}.jpg",
              "category": "photograph", "colour": "", "shop": "127.0.0.1", "width": 1, "height": 1}
             for n in range(len(listed))]
    near, far = np.asarray([1.0, 0.0], np.float32), np.asarray([0.6, 0.8], np.float32)
    descriptors = np.stack([near, near, *[far] * 5, far])
    copies = CopyViews(descriptors, np.arange(len(listed)), threshold=0.9, min_inliers=10).with_local(
        [local_features(photographs[photo]) for photo in listed])
    write_version(tmp_path, np.eye(len(listed), dtype=np.float32), items, "1", "x", copies)
    index = CatalogueIndex(tmp_path / current_name(tmp_path))
    copy = Image.open(io.BytesIO(jpeg_bytes(photographs[0], 60))).convert("RGB")
    hits = index.search(np.eye(len(listed), dtype=np.float32)[3], 8, copy_query=near, local_query=query_features(copy))
    assert [hit.item["sha1"] for hit in hits if hit.match == "copy"] in (["0", "1"], ["1", "0"])
    assert min(hit.inliers for hit in hits[:2]) >= 3 * 10  # clear copies
    # min_inliers a third of the copy's inliers and more: no clear copy, so all three listings are verified
    unclear = CopyViews(descriptors, np.arange(len(listed)), threshold=0.9, min_inliers=hits[0].inliers // 3 + 1
                        ).with_local([local_features(photographs[photo]) for photo in listed])
    write_version(tmp_path / "unclear", np.eye(len(listed), dtype=np.float32), items, "1", "x", unclear)
    index = CatalogueIndex(tmp_path / "unclear" / current_name(tmp_path / "unclear"))
    hits = index.search(np.eye(len(listed), dtype=np.float32)[3], 8, copy_query=near, local_query=query_features(copy))
    assert sorted(hit.item["sha1"] for hit in hits if hit.match == "copy") == ["0", "1", "7"]


def test_query_expansion_pulls_toward_the_nearest_neighbours_kind_and_reports_the_plain_similarity(tmp_path):
    """B lies beyond the query's nearest neighbour A, C as close to the query on another side: plain cosine
    ranks C before B; the query expanded with A ranks B first after A. Similarities stay the query's own."""
    vectors = np.asarray([[0.95, 0.312, 0.0], [0.80, 0.60, 0.0], [0.82, 0.0, 0.572]], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = [{"sha1": name, "page_url": name, "picture_url": "", "category": "", "colour": "", "shop": "a",
              "width": 1, "height": 1} for name in "ABC"]
    write_version(tmp_path, vectors, items, "1", "x")
    index = CatalogueIndex(tmp_path / current_name(tmp_path))
    query = np.asarray([1.0, 0.0, 0.0], dtype=np.float32)
    assert [hit.item["sha1"] for hit in index.search(query, 3, expansion=0)] == ["A", "C", "B"]
    expanded = index.search(query, 3, expansion=1)
    assert [hit.item["sha1"] for hit in expanded] == ["A", "B", "C"]
    assert [hit.similarity for hit in expanded] == pytest.approx((vectors @ query)[[0, 1, 2]].tolist(), abs=1e-6)
