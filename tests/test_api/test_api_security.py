"""Who may call the API: API keys, CORS for the extension's origins, rate limits."""

import io

import pytest

from serving.api import create_app
from serving.api.security import known_key
from shoplens import ShopLensError

EXTENSION = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"


def test_classify_and_models_need_a_known_key(client, picture):
    assert client.post("/v1/classify", data=picture(), content_type="image/jpeg").status_code == 401
    wrong = client.post("/v1/classify", data=picture(), content_type="image/jpeg", headers={"X-API-Key": "k2"})
    assert wrong.status_code == 401 and "API key" in wrong.json["error"]
    assert client.get("/v1/models").status_code == 401
    assert client.get("/healthz").status_code == 200  # probes need no key


def test_key_comparison():
    assert known_key("k2", ["k1", "k2"]) and not known_key("k", ["k1"]) and not known_key("", ["k1"])
    assert not known_key("k1", [])


def test_cors_only_for_configured_origins(settings):
    settings.cors_origins = [EXTENSION]
    client = create_app(settings).test_client()
    allowed = client.options("/v1/classify", headers={"Origin": EXTENSION, "Access-Control-Request-Method": "POST",
                                                      "Access-Control-Request-Headers": "X-API-Key"})
    assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Origin"] == EXTENSION
    assert "x-api-key" in allowed.headers["Access-Control-Allow-Headers"].lower()
    other = client.options("/v1/classify", headers={"Origin": "https://evil.example",
                                                    "Access-Control-Request-Method": "POST"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_rate_limit_gives_429(settings, picture, headers):
    settings.rate_limit = 2
    client = create_app(settings).test_client()
    codes = [client.post("/v1/classify", data=picture(seed=20 + s), content_type="image/jpeg",
                         headers=headers).status_code for s in range(3)]
    assert codes == [200, 200, 429]


def test_rate_limit_counts_pictures_across_both_routes(settings, picture, headers):
    settings.rate_limit = 3
    client = create_app(settings).test_client()
    files = {"images": [(io.BytesIO(picture(seed=130 + s)), f"{s}.jpg") for s in range(2)]}
    assert client.post("/v1/classify/batch", data=files, headers=headers).status_code == 200
    assert client.post("/v1/classify", data=picture(seed=132), content_type="image/jpeg",
                       headers=headers).status_code == 200
    refused = client.post("/v1/classify", data=picture(seed=133), content_type="image/jpeg", headers=headers)
    assert refused.status_code == 429 and "rate limit" in refused.json["error"] and refused.headers["Retry-After"]


def test_no_key_means_no_start_unless_insecure_is_explicit(settings, picture):
    settings.api_keys = []
    with pytest.raises(ShopLensError, match="SHOPLENS_INSECURE_NO_API_KEY"):
        create_app(settings)
    settings.insecure_no_api_key = True
    open_client = create_app(settings).test_client()
    assert open_client.post("/v1/classify", data=picture(seed=134), content_type="image/jpeg").status_code == 200
