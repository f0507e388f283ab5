"""The API as it runs in production: gunicorn workers (serving/api/gunicorn.conf.py) in front of
the session's TorchServe and redis-server."""

import json
import urllib.error
import urllib.request

import pytest

from serving.api.config import as_environment
from serving.operations.stack import ApiServer
from shoplens import ShopLensError
from shoplens import settings as declared


@pytest.fixture()
def api(settings):
    environment = {**as_environment(settings), **declared.environment({declared.WORKERS: 2,
                                                                       declared.ACCESS_LOG: "/dev/null"})}
    with ApiServer(environment).start() as running:
        yield running


def call(request, timeout=10):
    """(status, JSON body) of `request`, error statuses included."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_end_to_end_through_gunicorn(api, picture, headers):
    request = urllib.request.Request(f"{api.url}/v1/classify", data=picture(seed=30),
                                     headers={"Content-Type": "image/jpeg", **headers})
    assert [call(request)[1]["cached"] for _ in range(2)] == [False, True]
    bad = urllib.request.Request(request.full_url, data=b"oops", headers=dict(request.headers))
    assert call(bad)[0] == 422
    assert call(f"{api.url}/healthz")[0] == 200  # the worker survived the bad request
    for _ in range(4):  # every worker's counters add up, whichever worker answers /metrics
        with urllib.request.urlopen(f"{api.url}/metrics", timeout=5) as response:
            text = response.read().decode()
        assert 'shoplens_pictures_total{outcome="hit"} 1.0' in text
        assert 'shoplens_pictures_total{outcome="miss"} 1.0' in text


def raw_exchange(api, request: bytes, timeout=10):
    """Sends `request` bytes as they are and returns (status, headers, JSON body) of the answer."""
    import http.client
    import socket

    with socket.create_connection(("127.0.0.1", api.port), timeout=timeout) as connection:
        connection.sendall(request)
        response = http.client.HTTPResponse(connection)
        response.begin()
        return response.status, dict(response.getheaders()), json.loads(response.read())


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 431),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(150)) + b"\r\n", 431),
    (b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
    (b"NOT HTTP AT ALL\r\n\r\n", 400),
])
def test_what_gunicorn_refuses_itself_is_answered_in_json(api, request_bytes, status):
    answered, headers, body = raw_exchange(api, request_bytes)
    assert answered == status and headers["Content-Type"] == "application/json" and body["error"]


def test_oversized_body_is_refused_from_content_length_without_being_sent(api, headers):
    """The client announces 500 MB and sends none of it: the 413 comes anyway."""
    key = headers["X-API-Key"].encode()
    status, _, body = raw_exchange(api, b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                                   b"X-API-Key: " + key + b"\r\nContent-Length: 500000000\r\n\r\n")
    assert status == 413 and "may be at most" in body["error"]


def test_405_through_gunicorn_carries_allow(api, headers):
    status, answer_headers, body = raw_exchange(api, b"DELETE /v1/models HTTP/1.1\r\nHost: x\r\nX-API-Key: "
                                                + headers["X-API-Key"].encode() + b"\r\n\r\n")
    assert status == 405 and "GET" in answer_headers["Allow"] and body["error"]


def test_gunicorn_refuses_to_start_the_api_without_a_key(settings, tmp_path):
    settings.api_keys = []
    log = tmp_path / "api.log"
    server = ApiServer({**as_environment(settings), **declared.environment({declared.ACCESS_LOG: "/dev/null"})},
                       log=log)
    with pytest.raises(ShopLensError):
        server.start(timeout=20)
    assert "no API key configured" in log.read_text()


def test_chunked_body_over_the_cap_is_413_as_it_is_read(api, headers):
    """No Content-Length to refuse from: reading stops at the per-picture cap (10 MiB)."""
    chunk = b"0" * 1_000_000
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(12)) + b"0\r\n\r\n"
    status, _, answer = raw_exchange(api, b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                                     b"X-API-Key: " + headers["X-API-Key"].encode() +
                                     b"\r\nTransfer-Encoding: chunked\r\n\r\n" + body, timeout=30)
    assert status == 413 and "larger than 10485760 bytes" in answer["error"]


@pytest.mark.parametrize("path, content_type, size", [
    ("/v1/classify", "image/jpeg", 60_000_000),  # a raw picture body
    ("/v1/classify", "multipart/form-data; boundary=x", 60_000_000),
    ("/v1/feedback", "application/json", 50_000_000),  # a JSON string far past the JSON routes' 16 KiB
])
def test_a_body_past_the_limit_that_is_sent_whole_still_gets_its_413(api, headers, path, content_type, size):
    """The client sends all of it before reading: the server drops what it refused unread, so the answer is
    read, not a reset connection."""
    head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
            f"X-API-Key: {headers['X-API-Key']}\r\nContent-Length: {size}\r\n\r\n").encode()
    status, _, body = raw_exchange(api, head + b"a" * size, timeout=60)
    assert status == 413 and "may be at most" in body["error"]
    assert call(f"{api.url}/healthz")[0] == 200  # and the worker goes on
