"""The API keeps its published contract: openapi.json is valid, lists every route, and every
answer fits it; /metrics counts requests and cache outcomes."""

import io
import re

from openapi_spec_validator import validate

from serving.api import create_app


def test_openapi_document_is_valid_and_lists_every_route(client):
    document = client.get("/openapi.json").json
    validate(document)
    routes = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
              for rule in client.application.url_map.iter_rules() if rule.endpoint != "static"
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == documented


def test_answers_match_the_openapi_document(settings, picture, headers, conforms):
    settings.rate_limit, settings.max_upload_bytes = 8, 100_000  # the 8th counted picture is the last one allowed
    client = create_app(settings).test_client()
    document = client.get("/openapi.json").json
    body = picture("dress", "red", seed=70)
    calls = [
        ("/v1/classify", "post", dict(data=body, content_type="image/jpeg", headers=headers)),  # miss
        ("/v1/classify", "post", dict(data=body, content_type="image/jpeg", headers=headers)),  # hit
        ("/v1/classify", "post", dict(data=b"text", content_type="image/jpeg", headers=headers)),
        ("/v1/classify", "post", dict(data=body, content_type="image/jpeg")),
        ("/v1/classify", "post", dict(data="x", content_type="text/plain", headers=headers)),
        ("/v1/classify", "post", dict(json={"url": "http://10.0.0.1/x.jpg"}, headers=headers)),
        ("/v1/classify/batch", "post", dict(data={"images": [(io.BytesIO(body), "a.jpg"), (io.BytesIO(b"x"), "b")]},
                                            headers=headers)),
        ("/v1/classify/batch", "post", dict(json={"urls": ["http://example.com:+80/x.jpg"]}, headers=headers)),
        ("/v1/classify", "post", dict(data=b"0" * 200_000, content_type="image/jpeg", headers=headers)),
        ("/v1/classify", "post", dict(data=body, content_type="image/jpeg", headers=headers)),  # over the limit
        ("/v1/models", "get", dict(headers=headers)),
        ("/healthz", "get", {}), ("/readyz", "get", {}), ("/metrics", "get", {}),
    ]
    statuses = []
    for path, method, arguments in calls:
        response = getattr(client, method)(path, **arguments)
        conforms(document, path, method, response)
        statuses.append(response.status_code)
    assert statuses == [200, 200, 422, 401, 415, 400, 200, 200, 413, 429, 200, 200, 200, 200]


def test_metrics_count_requests_and_cache_outcomes(client, picture, headers):
    body = picture("shirt", "green", seed=71)
    for _ in range(2):
        client.post("/v1/classify", data=body, content_type="image/jpeg", headers=headers)
    text = client.get("/metrics").get_data(as_text=True)

    def value(prefix):
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))

    assert value('shoplens_pictures_total{outcome="hit"}') >= 1
    assert value('shoplens_pictures_total{outcome="miss"}') >= 1
    assert value('shoplens_requests_total{endpoint="/v1/classify",method="POST",status="200"}') >= 2
    assert value('shoplens_request_seconds_count{endpoint="/v1/classify"}') >= 2
