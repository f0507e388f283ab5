"""The Flask API against a real TorchServe and a real redis-server (Flask's test client)."""

import io
from pathlib import Path

import pytest
import redis
from PIL import Image

from serving.api import create_app
from serving.api.config import Settings
from shoplens.processes import free_port
from shoplens.sample import jpeg_bytes
from tests.conftest import drawn


@pytest.fixture()
def settings(torchserve, redis_server):
    server, _ = torchserve
    redis.Redis.from_url(redis_server).flushdb()
    return Settings(torchserve_urls=[server.inference_url], management_urls=[server.management_url],
                    key_files=[str(server.workdir / "key_file.json")], redis_url=redis_server, api_keys=["k1"])


@pytest.fixture()
def client(settings):
    return create_app(settings).test_client()


HEADERS = {"X-API-Key": "k1"}


def test_classify_upload_then_cache_hit(client, torchserve):
    _, bundle = torchserve
    picture = jpeg_bytes(drawn("pants", "blue", seed=9))
    first = client.post("/v1/classify", data={"image": (io.BytesIO(picture), "p.jpg")}, headers=HEADERS)
    assert first.status_code == 200, first.json
    assert first.json["cached"] is False and first.json["version"] == bundle["version"]
    assert first.json["category"] in bundle["tasks"]["category"] and "colour" in first.json
    second = client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=HEADERS)
    assert second.status_code == 200 and second.json["cached"] is True
    assert second.json["labels"] == first.json["labels"]


def test_batch_answers_each_picture(client):
    files = [(io.BytesIO(jpeg_bytes(drawn(seed=s))), f"{s}.jpg") for s in range(3)] + [(io.BytesIO(b"text"), "x.jpg")]
    response = client.post("/v1/classify/batch", data={"images": files}, headers=HEADERS)
    assert response.status_code == 200
    results = response.json["results"]
    assert len(results) == 4 and all("category" in r for r in results[:3])
    assert results[3]["error"].startswith("not a usable picture")


@pytest.mark.parametrize("body, status", [
    (b"", 422), (b"just text", 422), (jpeg_bytes(drawn())[:300], 422),
])
def test_bad_pictures_are_4xx_with_a_reason(client, body, status):
    response = client.post("/v1/classify", data=body, content_type="image/jpeg", headers=HEADERS)
    assert response.status_code == status and "not a usable picture" in response.json["error"]


def test_decompression_bomb_is_refused(client):
    buffer = io.BytesIO()
    Image.new("1", (9000, 9000)).save(buffer, "PNG")
    response = client.post("/v1/classify", data=buffer.getvalue(), content_type="image/png", headers=HEADERS)
    assert response.status_code == 422 and "too_many_pixels" in response.json["error"]


def test_api_key_and_content_type(client):
    assert client.post("/v1/classify", data=b"x", content_type="image/jpeg").status_code == 401
    response = client.post("/v1/classify", data="hello", content_type="text/plain", headers=HEADERS)
    assert response.status_code == 415 and response.json["error"]
    assert client.get("/v1/nothing-here", headers=HEADERS).status_code == 404


def test_redis_down_still_classifies(settings):
    settings.redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    client = create_app(settings).test_client()
    response = client.post("/v1/classify", data=jpeg_bytes(drawn(seed=4)), content_type="image/jpeg", headers=HEADERS)
    assert response.status_code == 200 and response.headers["X-ShopLens-Cache"] == "unavailable"
    assert client.get("/healthz").json["cache"] == "unavailable"


def test_model_server_down_is_503_fast(settings):
    settings.torchserve_urls = [f"http://127.0.0.1:{free_port()}"]
    settings.management_urls = settings.torchserve_urls
    client = create_app(settings).test_client()
    response = client.post("/v1/classify", data=jpeg_bytes(drawn(seed=5)), content_type="image/jpeg", headers=HEADERS)
    assert response.status_code == 503 and "unavailable" in response.json["error"]
    assert client.get("/readyz").status_code == 503


def test_readyz_reports_the_model(client, torchserve):
    _, bundle = torchserve
    response = client.get("/readyz")
    assert response.status_code == 200 and response.json["version"] == bundle["version"]


def test_rate_limit_gives_429(settings):
    settings.rate_limit = 2
    client = create_app(settings).test_client()
    codes = [client.post("/v1/classify", data=jpeg_bytes(drawn(seed=20 + s)), content_type="image/jpeg",
                         headers=HEADERS).status_code for s in range(3)]
    assert codes == [200, 200, 429]


def test_end_to_end_through_gunicorn(settings):
    import json
    import urllib.request

    from serving.stack import ApiServer

    environment = {"SHOPLENS_WORKERS": "2", "SHOPLENS_TORCHSERVE_URLS": ",".join(settings.torchserve_urls),
                   "SHOPLENS_TORCHSERVE_MANAGEMENT_URLS": ",".join(settings.management_urls),
                   "SHOPLENS_TORCHSERVE_KEY_FILES": ",".join(settings.key_files),
                   "SHOPLENS_REDIS_URL": settings.redis_url, "SHOPLENS_API_KEYS": "k1"}
    with ApiServer(environment).start() as api:
        request = urllib.request.Request(f"{api.url}/v1/classify", data=jpeg_bytes(drawn(seed=30)),
                                         headers={"Content-Type": "image/jpeg", "X-API-Key": "k1"})
        for cached in (False, True):
            with urllib.request.urlopen(request, timeout=10) as response:
                assert json.loads(response.read())["cached"] is cached
        bad = urllib.request.Request(request.full_url, data=b"oops", headers=dict(request.headers))
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(bad, timeout=10)
        assert error.value.code == 422
        with urllib.request.urlopen(f"{api.url}/healthz", timeout=5) as response:
            assert response.status == 200  # the worker survived the bad request
        for _ in range(4):  # every worker's counters add up, whichever worker answers /metrics
            with urllib.request.urlopen(f"{api.url}/metrics", timeout=5) as response:
                text = response.read().decode()
            assert 'shoplens_pictures_total{outcome="hit"} 1.0' in text
            assert 'shoplens_pictures_total{outcome="miss"} 1.0' in text


def test_new_model_version_is_never_served_stale_answers(client, torchserve, tmp_path):
    import json
    import shutil
    import time

    from serving.archive import archive

    server, bundle = torchserve
    picture = jpeg_bytes(drawn("skirt" if "skirt" in bundle["tasks"]["category"] else "dress", "red", seed=41))
    assert client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=HEADERS).status_code == 200
    assert client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=HEADERS).json["cached"]

    source = server.store.parent / "run" / "bundle"
    copy = Path(shutil.copytree(source, tmp_path / "bundle"))
    info = json.loads((copy / "bundle.json").read_text())
    info["version"] = "2"
    (copy / "bundle.json").write_text(json.dumps(info))
    mar = archive(copy, tmp_path / "store")
    shutil.copy(mar, server.store / "shoplens-v2.mar")
    try:
        server.register("shoplens-v2.mar")
        assert server.request("management", "PUT", "/models/shoplens/2/set-default")[0] == 200
        time.sleep(1.2)  # the API looks the default version up at most once a second
        answer = client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=HEADERS).json
        assert answer["version"] == "2" and answer["cached"] is False
    finally:
        server.request("management", "PUT", f"/models/shoplens/{bundle['version']}/set-default")
        server.request("management", "DELETE", "/models/shoplens/2")


def test_model_server_stopped_then_back(settings, torchserve, tmp_path):
    """A TorchServe of the API's own: stopped -> 503 within the timeout; started again -> 200."""
    import time

    from serving.torchserve import TorchServe

    shared, _ = torchserve
    own = TorchServe(shared.store, tmp_path / "own").start()
    own.register("shoplens.mar", batch_size=1)
    settings.torchserve_urls, settings.management_urls = [own.inference_url], [own.management_url]
    settings.key_files = [str(own.workdir / "key_file.json")]
    client = create_app(settings).test_client()
    picture = jpeg_bytes(drawn(seed=50))
    assert client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=HEADERS).status_code == 200
    own.stop()
    started = time.monotonic()
    down = client.post("/v1/classify", data=jpeg_bytes(drawn(seed=51)), content_type="image/jpeg", headers=HEADERS)
    assert down.status_code == 503 and time.monotonic() - started < settings.inference_timeout * 2 + 1
    try:
        own.start()
        own.register("shoplens.mar", batch_size=1)
        time.sleep(1.1)
        again = client.post("/v1/classify", data=jpeg_bytes(drawn(seed=52)), content_type="image/jpeg", headers=HEADERS)
        assert again.status_code == 200
    finally:
        own.stop()


@pytest.fixture()
def picture_host():
    """A local picture server: /pic.jpg, /redirect?to=URL, /big.jpg."""
    import http.server
    import threading

    picture = jpeg_bytes(drawn("shirt", "blue", seed=60))

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path.startswith("/redirect?to="):
                self.send_response(302)
                self.send_header("Location", self.path.split("=", 1)[1])
                self.end_headers()
                return
            body = picture if self.path == "/pic.jpg" else b"0" * 3_000_000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_classify_by_url_from_the_one_allowed_test_host(settings, picture_host):
    settings.fetch_allow_hosts = [picture_host]
    client = create_app(settings).test_client()
    response = client.post("/v1/classify", json={"url": f"http://{picture_host}/pic.jpg"}, headers=HEADERS)
    assert response.status_code == 200 and "category" in response.json
    batch = client.post("/v1/classify/batch", json={"urls": [f"http://{picture_host}/pic.jpg"] * 2}, headers=HEADERS)
    assert batch.status_code == 200 and len(batch.json["results"]) == 2


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:9/x.jpg", "http://localhost/x.jpg", "http://10.0.0.8/x.jpg", "http://192.168.1.2/x.jpg",
    "http://169.254.169.254/latest/meta-data/", "http://[::1]/x.jpg", "ftp://example.com/x.jpg",
    "file:///etc/passwd", "http://0.0.0.0/x.jpg",
])
def test_url_fetching_refuses_internal_addresses(settings, picture_host, url):
    settings.fetch_allow_hosts = [picture_host]
    client = create_app(settings).test_client()
    response = client.post("/v1/classify", json={"url": url}, headers=HEADERS)
    assert response.status_code == 400 and "cannot fetch" in response.json["error"]


@pytest.mark.parametrize("target", ["http://127.0.0.1:6379/", "http://169.254.169.254/latest/meta-data/"])
def test_redirect_to_internal_address_is_refused(settings, picture_host, target):
    settings.fetch_allow_hosts = [picture_host]
    client = create_app(settings).test_client()
    response = client.post("/v1/classify", json={"url": f"http://{picture_host}/redirect?to={target}"},
                           headers=HEADERS)
    assert response.status_code == 400 and "non-public" in response.json["error"]


def test_oversized_download_is_refused(settings, picture_host):
    settings.fetch_allow_hosts, settings.max_upload_bytes = [picture_host], 1_000_000
    client = create_app(settings).test_client()
    response = client.post("/v1/classify", json={"url": f"http://{picture_host}/big.jpg"}, headers=HEADERS)
    assert response.status_code == 400 and "larger than" in response.json["error"]


def test_cors_only_for_configured_origins(settings):
    extension = "chrome-extension://abcdefghijklmnopabcdefghijklmnop"
    settings.cors_origins = [extension]
    client = create_app(settings).test_client()
    allowed = client.options("/v1/classify", headers={"Origin": extension,
                                                      "Access-Control-Request-Method": "POST"})
    assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Origin"] == extension
    other = client.options("/v1/classify", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_models_view_lists_versions(client, torchserve):
    _, bundle = torchserve
    response = client.get("/v1/models", headers=HEADERS)
    assert response.status_code == 200 and response.json["default_version"] == bundle["version"]
    assert bundle["version"] in [v["version"] for v in response.json["versions"]]
    assert client.post("/v1/models", headers=HEADERS).status_code == 405  # read-only


def _conforms(document, path, method, response):
    """The response's status is documented for the operation, and its JSON body fits the schema."""
    from openapi_schema_validator import OAS31Validator

    documented = document["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, f"{method.upper()} {path} -> {response.status_code} undocumented"
    content = documented[str(response.status_code)]["content"]
    if "application/json" in content:
        schema = {**content["application/json"]["schema"], "components": document["components"]}
        OAS31Validator(schema).validate(response.json)


def test_openapi_document_is_valid_and_lists_every_route(client):
    import re

    from openapi_spec_validator import validate

    document = client.get("/openapi.json").json
    validate(document)
    routes = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
              for rule in client.application.url_map.iter_rules() if rule.endpoint != "static"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == documented


def test_answers_match_the_openapi_document(client):
    document = client.get("/openapi.json").json
    picture = jpeg_bytes(drawn("dress", "red", seed=70))
    calls = [
        ("/v1/classify", "post", dict(data=picture, content_type="image/jpeg", headers=HEADERS)),  # miss
        ("/v1/classify", "post", dict(data=picture, content_type="image/jpeg", headers=HEADERS)),  # hit
        ("/v1/classify", "post", dict(data=b"text", content_type="image/jpeg", headers=HEADERS)),
        ("/v1/classify", "post", dict(data=picture, content_type="image/jpeg")),
        ("/v1/classify", "post", dict(data="x", content_type="text/plain", headers=HEADERS)),
        ("/v1/classify", "post", dict(json={"url": "http://10.0.0.1/x.jpg"}, headers=HEADERS)),
        ("/v1/classify/batch", "post", dict(data={"images": [(io.BytesIO(picture), "a.jpg"), (io.BytesIO(b"x"), "b")]},
                                            headers=HEADERS)),
        ("/v1/models", "get", dict(headers=HEADERS)),
        ("/healthz", "get", {}), ("/readyz", "get", {}), ("/metrics", "get", {}),
    ]
    statuses = []
    for path, method, arguments in calls:
        response = getattr(client, method)(path, **arguments)
        _conforms(document, path, method, response)
        statuses.append(response.status_code)
    assert statuses == [200, 200, 422, 401, 415, 400, 200, 200, 200, 200, 200]


def test_metrics_count_requests_and_cache_outcomes(client):
    picture = jpeg_bytes(drawn("shirt", "green", seed=71))
    for _ in range(2):
        client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=HEADERS)
    text = client.get("/metrics").get_data(as_text=True)

    def value(prefix):
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))

    assert value('shoplens_pictures_total{outcome="hit"}') >= 1
    assert value('shoplens_pictures_total{outcome="miss"}') >= 1
    assert value('shoplens_requests_total{endpoint="/v1/classify",method="POST",status="200"}') >= 2
    assert value('shoplens_request_seconds_count{endpoint="/v1/classify"}') >= 2


def test_url_answers_are_found_by_url_without_fetching_again(settings, picture_host):
    settings.fetch_allow_hosts = [picture_host]
    client = create_app(settings).test_client()
    url = f"http://{picture_host}/pic.jpg"
    assert client.post("/v1/classify", json={"url": url}, headers=HEADERS).json["cached"] is False
    settings.fetch_allow_hosts = []  # a fetch would now be refused: the answer must come from URL -> hash
    again = client.post("/v1/classify", json={"url": url}, headers=HEADERS)
    assert again.status_code == 200 and again.json["cached"] is True


def test_two_model_servers_share_requests_and_one_stopping_loses_none(settings, torchserve, tmp_path):
    """Scale-out: the API spreads requests over two TorchServes; one stops mid-run, every request is answered."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from serving.torchserve import TorchServe

    shared, _ = torchserve
    second = TorchServe(shared.store, tmp_path / "second").start()
    try:
        second.register("shoplens.mar", batch_size=1)
        settings.torchserve_urls = [shared.inference_url, second.inference_url]
        settings.management_urls = [shared.management_url, second.management_url]
        settings.key_files = [str(shared.workdir / "key_file.json"), str(second.workdir / "key_file.json")]
        app = create_app(settings)
        pictures = [jpeg_bytes(drawn(seed=200 + s)) for s in range(40)]  # all new: no cache hit
        answered = threading.Semaphore(0)

        def classify(picture):
            response = app.test_client().post("/v1/classify", data=picture, content_type="image/jpeg",
                                              headers=HEADERS)
            answered.release()
            return response.status_code, response.json.get("cached")

        def stop_second_after(count):
            for _ in range(count):
                answered.acquire()
            second.stop()

        stopper = threading.Thread(target=stop_second_after, args=(12,))
        stopper.start()
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(classify, pictures))
        stopper.join(timeout=60)
        assert results == [(200, False)] * len(pictures)
        served_by_second = (second.workdir / "logs" / "access_log.log").read_text().count("/predictions/")
        assert served_by_second >= 3  # the second instance did take its share before it stopped
    finally:
        second.stop()


def test_redis_stopped_mid_run_then_back(settings, tmp_path):
    from serving.stack import RedisServer

    own = RedisServer(tmp_path / "redis").start()
    settings.redis_url = own.url
    client = create_app(settings).test_client()
    picture = jpeg_bytes(drawn("shirt", "red", seed=80))

    def post():
        return client.post("/v1/classify", data=picture, content_type="image/jpeg", headers=HEADERS)

    assert post().json["cached"] is False and post().json["cached"] is True
    own.stop()
    down = post()
    assert down.status_code == 200 and down.json["cached"] is False
    assert down.headers["X-ShopLens-Cache"] == "unavailable"
    own.start()  # an empty Redis again: the answer is computed, cached, then served from the cache
    assert post().headers["X-ShopLens-Cache"] == "ok" and post().json["cached"] is True
