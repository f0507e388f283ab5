"""The handler in a real TorchServe, serving a bundle the test trains (seconds)."""

import json

import pytest

from shoplens.bundle import BundleInfo, Preprocessing
from shoplens.classifier import describe
from shoplens.imaging import jpeg_bytes


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

    info = BundleInfo("simple_cnn", "all", 0.5, {"category": ["a", "b", "c"]}, Preprocessing())
    assert describe({"category": torch.tensor([0.4, 0.35, 0.25]).log()}, info, None, 0.2)["low_confidence"]
    assert not describe({"category": torch.tensor([0.9, 0.05, 0.05]).log()}, info, None, 0.2)["low_confidence"]


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


def test_a_picture_as_large_as_shoplens_accepts_is_classified(torchserve):
    """TorchServe's own body limit (6.5 MB by default) is raised to the largest picture ShopLens
    accepts, so a valid 7-20 MB picture gets an answer, not a dropped connection."""
    import io

    import numpy as np
    from PIL import Image

    from serving.api.config import Settings
    from shoplens.imaging import DEFAULT_LIMITS

    server, bundle = torchserve
    limits = {key: int(value) for key, value in
              (line.split("=", 1) for line in (server.workdir / "config.properties").read_text().splitlines()
               if line.startswith(("max_request_size=", "max_response_size=")))}
    assert limits["max_request_size"] >= max(DEFAULT_LIMITS.max_bytes, Settings().max_upload_bytes)
    noise = np.random.default_rng(0).integers(0, 256, (2300, 2300, 3), dtype=np.uint8)  # noise barely compresses
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG", compress_level=1)
    picture = buffer.getvalue()
    assert 7_000_000 < len(picture) <= DEFAULT_LIMITS.max_bytes
    status, body = server.request("inference", "POST", "/predictions/shoplens", picture, timeout=120)
    assert status == 200, body[:200]
    assert json.loads(body)["category"] in bundle["tasks"]["category"]


def test_metrics_port_serves_prometheus_text(torchserve, drawn):
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    server, _ = torchserve
    assert server.request("inference", "POST", "/predictions/shoplens", jpeg_bytes(drawn()))[0] == 200
    with urllib.request.urlopen(server.metrics_url + "/metrics", timeout=10) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    families = {family.name: family for family in text_string_to_metric_families(text)}
    assert "ts_inference_requests" in families or "ts_inference_requests_total" in families, sorted(families)
    served = families.get("ts_inference_requests") or families["ts_inference_requests_total"]
    assert sum(sample.value for sample in served.samples) >= 1


def test_a_port_taken_before_the_first_start_is_chosen_again(torchserve, tmp_path):
    """free_port's race: another process binds a chosen port before TorchServe does."""
    import socket

    from serving.operations.torchserve import TorchServe

    server, _ = torchserve
    own = TorchServe(server.store, tmp_path / "own")
    taken = own.ports[1]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        own.start()
        try:
            assert own.ports[1] != taken and own.ready()
            assert b"Address already in use" in own.log.read_bytes()  # the first try met the taken port
        finally:
            own.stop()
