"""The handler in a real TorchServe, serving a bundle the test trains (seconds)."""

import json

import pytest

from serving.handler import describe
from shoplens.sample import jpeg_bytes


def test_classifies_a_picture(torchserve, drawn):
    server, bundle = torchserve
    status, body = server.request("inference", "POST", "/predictions/shoplens", jpeg_bytes(drawn("dress", "red")))
    assert status == 200, body
    answer = json.loads(body)
    assert answer["category"] in bundle["tasks"]["category"] and len(answer["labels"]) == 3
    assert answer["colour"]["label"] in bundle["tasks"]["colour"]
    assert answer["version"] == bundle["version"] and isinstance(answer["low_confidence"], bool)
    assert abs(sum(label["probability"] for label in answer["labels"]) - 1) < 0.01  # three classes


@pytest.mark.parametrize("data, reason", [(b"not a picture", "not_an_image"), (b"\xff\xd8\xff\xe0" + b"0" * 50,
                                                                                   "not_an_image")])
def test_bad_picture_is_an_answer_not_a_crash(torchserve, data, reason, drawn):
    server, _ = torchserve
    status, body = server.request("inference", "POST", "/predictions/shoplens", data)
    assert status == 200 and json.loads(body) == {"error": reason}
    status, _ = server.request("inference", "POST", "/predictions/shoplens", jpeg_bytes(drawn()))
    assert status == 200  # the worker is still alive


def test_token_is_required(torchserve):
    import urllib.error
    import urllib.request

    server, _ = torchserve
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(server.inference_url + "/ping", timeout=5)


def test_low_confidence_flag():
    import torch

    tasks = {"category": ["a", "b", "c"]}
    assert describe({"category": torch.tensor([0.4, 0.35, 0.25])}, tasks, 0.2)["low_confidence"]
    assert not describe({"category": torch.tensor([0.9, 0.05, 0.05])}, tasks, 0.2)["low_confidence"]


def test_registration_only_from_the_model_store(torchserve):
    server, _ = torchserve
    status, _ = server.request("management", "POST", "/models?url=http://127.0.0.1:9/other.mar")
    assert status >= 400
    status, body = server.request("management", "GET", "/models")
    assert status == 200 and [m["modelName"] for m in json.loads(body)["models"]] == ["shoplens"]


def test_workers_scale_through_the_management_api(torchserve):
    server, _ = torchserve

    def workers():
        status, body = server.request("management", "GET", "/models/shoplens")
        assert status == 200
        return len(json.loads(body)[0]["workers"])

    try:
        status, _ = server.request("management", "PUT", "/models/shoplens?min_worker=2&synchronous=true", timeout=120)
        assert status == 200 and workers() == 2
    finally:
        server.request("management", "PUT", "/models/shoplens?min_worker=1&max_worker=1&synchronous=true",
                       timeout=120)
    assert workers() == 1
