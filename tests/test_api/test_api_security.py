"""Who may call the API: API keys, CORS for the extension's origins, rate limits."""

from serving.api import create_app
from serving.api.security import known_key

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
