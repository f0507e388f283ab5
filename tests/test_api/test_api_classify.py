"""Classifying through the Flask app (test client) against the session's real TorchServe and redis-server."""

import io
import json
import shutil
import time
from pathlib import Path

import pytest
from PIL import Image

from serving.api import create_app
from serving.operations.archive import archive


def test_classify_upload_then_cache_hit(client, serving_stack, picture, headers):
    bundle = serving_stack.bundle
    body = picture("pants", "blue", seed=9)
    first = client.post("/v1/classify", data={"image": (io.BytesIO(body), "p.jpg")}, headers=headers)
    assert first.status_code == 200, first.json
    assert first.json["cached"] is False and first.json["version"] == bundle["version"]
    assert first.json["category"] in bundle["tasks"]["category"] and "colour" in first.json
    second = client.post("/v1/classify", data=body, content_type="image/jpeg", headers=headers)
    assert second.status_code == 200 and second.json["cached"] is True
    assert second.json["labels"] == first.json["labels"]


def test_batch_answers_each_picture(client, picture, headers):
    files = [(io.BytesIO(picture(seed=s)), f"{s}.jpg") for s in range(3)] + [(io.BytesIO(b"text"), "x.jpg")]
    response = client.post("/v1/classify/batch", data={"images": files}, headers=headers)
    assert response.status_code == 200
    results = response.json["results"]
    assert len(results) == 4 and all("category" in r for r in results[:3])
    assert results[3]["error"].startswith("not a usable picture") and results[3]["status"] == 422


@pytest.mark.parametrize("body", [b"", b"just text", "truncated"])
def test_bad_pictures_are_422_with_a_reason(client, picture, headers, body):
    body = picture()[:300] if body == "truncated" else body
    response = client.post("/v1/classify", data=body, content_type="image/jpeg", headers=headers)
    assert response.status_code == 422 and "not a usable picture" in response.json["error"]


def test_decompression_bomb_is_refused(client, headers):
    buffer = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buffer, "PNG")
    response = client.post("/v1/classify", data=buffer.getvalue(), content_type="image/png", headers=headers)
    assert response.status_code == 422 and "too_many_pixels" in response.json["error"]


def test_unknown_content_type_and_route(client, headers):
    response = client.post("/v1/classify", data="hello", content_type="text/plain", headers=headers)
    assert response.status_code == 415 and response.json["error"]
    assert client.get("/v1/nothing-here", headers=headers).status_code == 404


def test_readyz_reports_the_model(client, serving_stack):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json["version"] == serving_stack.bundle["version"]


def test_models_view_lists_versions(client, serving_stack, headers):
    version = serving_stack.bundle["version"]
    response = client.get("/v1/models", headers=headers)
    assert response.status_code == 200 and response.json["default_version"] == version
    assert version in [v["version"] for v in response.json["versions"]]
    refused = client.post("/v1/models", headers=headers)  # read-only
    assert refused.status_code == 405 and refused.json["error"]


def test_classify_by_url(settings, picture_host, headers):
    settings.fetch_allow_hosts = [picture_host]
    client = create_app(settings).test_client()
    response = client.post("/v1/classify", json={"url": f"http://{picture_host}/pic.jpg"}, headers=headers)
    assert response.status_code == 200 and "category" in response.json
    batch = client.post("/v1/classify/batch", json={"urls": [f"http://{picture_host}/pic.jpg"] * 2}, headers=headers)
    assert batch.status_code == 200 and len(batch.json["results"]) == 2


def test_refused_url_is_400_with_the_fetchers_reason(client, headers):
    response = client.post("/v1/classify", json={"url": "http://10.0.0.8/x.jpg"}, headers=headers)
    assert response.status_code == 400 and "non-public" in response.json["error"]


def test_url_answers_are_found_by_url_without_fetching_again(settings, picture_host, headers):
    settings.fetch_allow_hosts = [picture_host]
    client = create_app(settings).test_client()
    url = f"http://{picture_host}/pic.jpg"
    assert client.post("/v1/classify", json={"url": url}, headers=headers).json["cached"] is False
    settings.fetch_allow_hosts = []  # a fetch would now be refused: the answer must come from URL -> hash
    again = client.post("/v1/classify", json={"url": url}, headers=headers)
    assert again.status_code == 200 and again.json["cached"] is True


def test_new_model_version_is_never_served_stale_answers(client, serving_stack, picture, headers, tmp_path):
    server, bundle = serving_stack.torchserve, serving_stack.bundle
    body = picture("dress", "red", seed=41)
    assert client.post("/v1/classify", data=body, content_type="image/jpeg", headers=headers).status_code == 200
    assert client.post("/v1/classify", data=body, content_type="image/jpeg", headers=headers).json["cached"]

    copy = Path(shutil.copytree(server.store.parent / "run" / "bundle", tmp_path / "bundle"))
    info = json.loads((copy / "bundle.json").read_text())
    info["version"] = "2"
    (copy / "bundle.json").write_text(json.dumps(info))
    shutil.copy(archive(copy, tmp_path / "store"), server.store / "shoplens-v2.mar")
    try:
        server.register("shoplens-v2.mar")
        assert server.request("management", "PUT", "/models/shoplens/2/set-default")[0] == 200
        time.sleep(1.2)  # the API looks the default version up at most once a second
        answer = client.post("/v1/classify", data=body, content_type="image/jpeg", headers=headers).json
        assert answer["version"] == "2" and answer["cached"] is False
    finally:
        server.request("management", "PUT", f"/models/shoplens/{bundle['version']}/set-default")
        server.request("management", "DELETE", "/models/shoplens/2")


def test_a_cache_hit_costs_no_decoding(client, settings, serving_stack, headers):
    """Bytes that would not even decode are answered from the cache: the hash is asked before any decoding."""
    import hashlib

    from serving.api.cache import AnswerCache

    undecodable = b"\xff\xd8 not really a JPEG, but its answer is cached"
    answer = {"category": "dress", "labels": [{"label": "dress", "probability": 1.0}], "low_confidence": False,
              "version": serving_stack.bundle["version"]}
    cache = AnswerCache(settings.redis_url, 60)
    cache.put(hashlib.sha256(undecodable).hexdigest(), serving_stack.bundle["version"], answer)
    response = client.post("/v1/classify", data=undecodable, content_type="image/jpeg", headers=headers)
    assert response.status_code == 200 and response.json == {**answer, "cached": True}


def test_a_large_picture_goes_to_the_model_shrunk(client, settings, picture, headers):
    from serving.api.classify import model_input

    large = picture("shirt", "red", seed=95, size=(2400, 1800))
    with client.application.test_request_context():
        sent = model_input(large)
        assert model_input(picture(seed=96)) == picture(seed=96)  # small pictures go as they came
    assert max(Image.open(io.BytesIO(sent)).size) == settings.send_max_side and len(sent) < len(large)
    response = client.post("/v1/classify", data=large, content_type="image/jpeg", headers=headers)
    assert response.status_code == 200 and response.json["cached"] is False
