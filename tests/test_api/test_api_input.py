"""Hostile and malformed input: every one is a 4xx with a reason, never a 500, and in a
batch each bad item gets its own error while the rest are answered. One size policy:
per picture and per batch, refused from Content-Length before the body is read."""

import io
import json

import pytest

from serving.api import create_app

GOOD_URL = "http://{host}/pic.jpg"
MALFORMED_URLS = {
    "port with a sign": ("http://example.com:+80/x.jpg", "malformed URL"),
    "host of 2 million characters": ("http://" + "a" * 2_000_000 + ".com/x.jpg", "longer than"),
    "lone surrogate": ("http://example\ud800.com/x.jpg", "lone surrogate"),
    "label over 63 characters": ("http://" + "a" * 64 + ".com/x.jpg", "not a valid domain name"),
    "broken IPv6 literal": ("http://[::1/x.jpg", "malformed URL"),
    "not a string": (12345, "must be a string"),
}


@pytest.fixture()
def url_client(settings, picture_host):
    settings.fetch_allow_hosts = [picture_host]
    return create_app(settings).test_client()


def post_json(client, path, text, headers):
    return client.post(path, data=text, content_type="application/json", headers=headers)


@pytest.mark.parametrize("name", MALFORMED_URLS)
def test_malformed_url_is_400_with_a_reason(url_client, headers, name):
    url, reason = MALFORMED_URLS[name]
    response = post_json(url_client, "/v1/classify", json.dumps({"url": url}), headers)
    assert response.status_code == 400 and reason in response.json["error"]


def test_non_ascii_path_is_percent_encoded_and_fetched(url_client, picture_host, headers):
    response = url_client.post("/v1/classify", json={"url": f"http://{picture_host}/dé.jpg"}, headers=headers)
    assert response.status_code == 200 and "category" in response.json


def test_json_nested_10000_deep_is_400(client, headers):
    response = post_json(client, "/v1/classify", '{"url": ' + "[" * 10_000 + "]" * 10_000 + "}", headers)
    assert response.status_code == 400 and "nested too deeply" in response.json["error"]


@pytest.mark.parametrize("text", ["{not json", '["http://example.com/x.jpg"]', '{"urls": "http://x"}',
                                  b'{"url": "http://\xff.com/"}'])
def test_json_of_the_wrong_shape_is_400(client, headers, text):
    response = post_json(client, "/v1/classify", text, headers)
    assert response.status_code == 400 and "JSON bodies carry" in response.json["error"]


def test_batch_of_urls_answers_the_good_ones_and_explains_each_bad_one(url_client, picture_host, headers):
    urls = [GOOD_URL.format(host=picture_host), *(url for url, _ in MALFORMED_URLS.values()),
            "http://10.0.0.1/x.jpg", GOOD_URL.format(host=picture_host)]
    response = post_json(url_client, "/v1/classify/batch", json.dumps({"urls": urls}), headers)
    assert response.status_code == 200
    results = response.json["results"]
    assert "category" in results[0] and "category" in results[-1]
    bad = results[1:-1]
    assert [item["status"] for item in bad] == [400] * len(bad)
    assert [reason in item["error"] for item, (_, reason) in zip(bad, MALFORMED_URLS.values(), strict=False)] \
        == [True] * len(MALFORMED_URLS)
    assert "non-public" in bad[-1]["error"]


def test_picture_over_the_cap_is_413_before_reading(settings, picture, headers):
    settings.max_upload_bytes = 50_000
    client = create_app(settings).test_client()
    body = b"\xff\xd8" + b"0" * 200_000
    response = client.post("/v1/classify", data=body, content_type="image/jpeg", headers=headers)
    assert response.status_code == 413 and "may be at most" in response.json["error"]
    assert client.post("/v1/classify", data=picture(seed=90), content_type="image/jpeg",
                       headers=headers).status_code == 200


def test_batch_over_its_cap_is_413_and_an_oversized_picture_in_a_batch_is_its_own_413(settings, picture, headers):
    settings.max_upload_bytes, settings.max_batch_bytes = 50_000, 400_000
    client = create_app(settings).test_client()
    too_many_bytes = [(io.BytesIO(b"0" * 150_000), f"{n}.jpg") for n in range(3)]
    response = client.post("/v1/classify/batch", data={"images": too_many_bytes}, headers=headers)
    assert response.status_code == 413 and "a batch may be at most 400000" in response.json["error"]
    files = [(io.BytesIO(picture(seed=91)), "a.jpg"), (io.BytesIO(b"0" * 60_000), "big.jpg")]
    results = client.post("/v1/classify/batch", data={"images": files}, headers=headers).json["results"]
    assert "category" in results[0] and results[1]["status"] == 413 and "larger than 50000" in results[1]["error"]


def test_405_says_which_methods_are_allowed(client, headers):
    response = client.delete("/v1/classify", headers=headers)
    assert response.status_code == 405 and response.json["error"]
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"POST", "OPTIONS"}
    assert "GET" in client.post("/v1/models", headers=headers).headers["Allow"]


def test_multipart_without_a_picture_is_400(client, headers):
    response = client.post("/v1/classify", data={"other": "x"}, content_type="multipart/form-data", headers=headers)
    assert response.status_code == 400 and "'image'" in response.json["error"]


@pytest.mark.parametrize("count", [0, 33])
def test_batch_outside_1_to_max_batch_is_400_before_any_url_is_looked_at(client, headers, count):
    urls = ["http://example.com:+80/x.jpg"] * count  # malformed: a look at them would answer per item
    response = client.post("/v1/classify/batch", json={"urls": urls}, headers=headers)
    assert response.status_code == 400 and "send 1 to 32 pictures" in response.json["error"]


def test_multipart_of_too_many_parts_is_413_with_the_limits(client, headers):
    fields = {f"field{n}": "x" for n in range(1001)}
    response = client.post("/v1/classify/batch", data=fields, content_type="multipart/form-data", headers=headers)
    assert response.status_code == 413 and "1000 multipart parts" in response.json["error"]
