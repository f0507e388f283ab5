"""The API as it runs in production: gunicorn workers (serving/gunicorn.conf.py) in front of
the session's TorchServe and redis-server."""

import json
import urllib.error
import urllib.request

import pytest

from serving.api.config import as_environment
from serving.stack import ApiServer
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
