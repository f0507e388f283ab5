"""Parts failing under the API: Redis down or stopped, TorchServe down or stopped, one of two
TorchServes stopping. Each test stops only parts it started itself."""

import io
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from serving.api import create_app
from serving.operations.stack import RedisServer
from serving.operations.torchserve import TorchServe
from shoplens.processes import free_port


def test_redis_down_still_classifies(settings, picture, headers):
    settings.redis_url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    client = create_app(settings).test_client()
    response = client.post("/v1/classify", data=picture(seed=4), content_type="image/jpeg", headers=headers)
    assert response.status_code == 200 and response.headers["X-ShopLens-Cache"] == "unavailable"
    assert client.get("/healthz").json["cache"] == "unavailable"


def test_model_server_down_is_503_fast(settings, picture, headers):
    settings.torchserve_urls = [f"http://127.0.0.1:{free_port()}"]
    settings.management_urls = settings.torchserve_urls
    client = create_app(settings).test_client()
    response = client.post("/v1/classify", data=picture(seed=5), content_type="image/jpeg", headers=headers)
    assert response.status_code == 503 and "unavailable" in response.json["error"]
    assert client.get("/readyz").status_code == 503


def test_model_server_stopped_then_back(settings, serving_stack, picture, headers, tmp_path):
    """A TorchServe of the test's own: stopped -> 503 within the timeout; started again -> 200."""
    own = TorchServe(serving_stack.torchserve.store, tmp_path / "own").start()
    try:
        own.register("shoplens.mar", batch_size=1)
        settings.torchserve_urls, settings.management_urls = [own.inference_url], [own.management_url]
        settings.key_files = [str(own.key_file)]
        client = create_app(settings).test_client()

        def post(seed):
            return client.post("/v1/classify", data=picture(seed=seed), content_type="image/jpeg", headers=headers)

        assert post(50).status_code == 200
        own.stop()
        started = time.monotonic()
        down = post(51)
        assert down.status_code == 503 and time.monotonic() - started < settings.inference_timeout * 2 + 1
        own.start()
        own.register("shoplens.mar", batch_size=1)
        time.sleep(1.1)
        assert post(52).status_code == 200
    finally:
        own.stop()


def test_two_model_servers_share_requests_and_one_stopping_loses_none(settings, serving_stack, picture, headers,
                                                                      tmp_path):
    """Scale-out: the API spreads requests over two TorchServes; one stops mid-run, every request is answered."""
    shared = serving_stack.torchserve
    second = TorchServe(shared.store, tmp_path / "second").start()
    try:
        second.register("shoplens.mar", batch_size=1)
        settings.torchserve_urls = [shared.inference_url, second.inference_url]
        settings.management_urls = [shared.management_url, second.management_url]
        settings.key_files = [str(shared.key_file), str(second.key_file)]
        app = create_app(settings)
        pictures = [picture(seed=200 + s) for s in range(40)]  # all new: no cache hit
        answered = threading.Semaphore(0)

        def classify(body):
            response = app.test_client().post("/v1/classify", data=body, content_type="image/jpeg", headers=headers)
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


def test_redis_stopped_mid_run_then_back(settings, picture, headers, tmp_path):
    own = RedisServer(tmp_path / "redis").start()
    try:
        settings.redis_url = own.url
        client = create_app(settings).test_client()
        body = picture("shirt", "red", seed=80)

        def post():
            return client.post("/v1/classify", data=body, content_type="image/jpeg", headers=headers)

        assert post().json["cached"] is False and post().json["cached"] is True
        own.stop()
        down = post()
        assert down.status_code == 200 and down.json["cached"] is False
        assert down.headers["X-ShopLens-Cache"] == "unavailable"
        own.start()  # an empty Redis again: the answer is computed, cached, then served from the cache
        assert post().headers["X-ShopLens-Cache"] == "ok" and post().json["cached"] is True
    finally:
        own.stop()


def test_model_server_down_still_serves_cached_answers_of_the_last_version(settings, serving_stack, picture,
                                                                           headers):
    known, new = picture("pants", "red", seed=110), picture("pants", "red", seed=111)
    live = create_app(settings).test_client()
    assert live.post("/v1/classify", data=known, content_type="image/jpeg", headers=headers).status_code == 200
    settings.torchserve_urls = settings.management_urls = [f"http://127.0.0.1:{free_port()}"]  # nothing there
    down = create_app(settings).test_client()  # a fresh worker: it learns the last version from Redis

    def post(body):
        return down.post("/v1/classify", data=body, content_type="image/jpeg", headers=headers)

    cached = post(known)
    assert cached.status_code == 200 and cached.json["cached"] is True
    assert cached.json["version"] == serving_stack.bundle["version"]
    assert cached.headers["X-ShopLens-Model"] == "unavailable"
    missed = post(new)
    assert missed.status_code == 503 and "unavailable" in missed.json["error"]
    files = {"images": [(io.BytesIO(known), "a.jpg"), (io.BytesIO(new), "b.jpg")]}
    results = down.post("/v1/classify/batch", data=files, headers=headers).json["results"]
    assert results[0]["cached"] is True and results[1]["status"] == 503
    alone = down.post("/v1/classify/batch", data={"images": [(io.BytesIO(new), "b.jpg")]}, headers=headers)
    assert alone.status_code == 503  # nothing in the batch could be answered


def test_rate_limit_still_counts_while_redis_is_down(settings, picture, headers):
    settings.redis_url, settings.rate_limit = f"redis://127.0.0.1:{free_port()}/0", 2  # nothing listens there
    client = create_app(settings).test_client()
    codes = [client.post("/v1/classify", data=picture(seed=120 + s), content_type="image/jpeg",
                         headers=headers).status_code for s in range(3)]
    assert codes == [200, 200, 429]
