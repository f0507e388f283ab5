"""Shoppers' corrections and the review queue through the API, on real SQLite and PostgreSQL
databases in front of the session's TorchServe and redis-server: feedback stored and queued,
bad feedback refused with nothing written, uncertain classify answers queued off the hot
path, the review queue's order and keys, decisions read back as training will."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from serving.api import create_app
from shoplens.corrections.store import accepted_corrections

EMPTY = {"pictures": 0, "feedback": 0, "review_items": 0}


@pytest.fixture()
def app(settings, database_url, picture_host):
    settings.database_url, settings.fetch_allow_hosts = database_url, [picture_host]
    application = create_app(settings)
    yield application
    services = application.extensions["shoplens"]
    if services.corrections._store is not None:
        services.corrections.store().close()


@pytest.fixture()
def client(app):
    return app.test_client()


def counts(app):
    return app.extensions["shoplens"].corrections.store().row_counts()


def correction(picture_host, **changes):
    body = {"picture": {"url": f"http://{picture_host}/pic.jpg"}, "page_url": "https://shop.example/p/blue-shirt",
            "predicted": {"category": "dress", "colour": "blue", "model_version": "1.0"},
            "corrected": {"category": "shirt", "colour": "blue"}, "reported_at": "2026-11-23T21:30:00+01:00"}
    return {**body, **changes}


def test_vocabulary_is_the_served_models(client, headers, serving_stack):
    answer = client.get("/v1/vocabulary", headers=headers).json
    assert answer["categories"] == serving_stack.bundle["tasks"]["category"]
    assert answer["colours"] == serving_stack.bundle["tasks"]["colour"]


def test_feedback_is_stored_queued_decided_and_read_back(app, client, headers, admin_headers, picture_host,
                                                         database_url, conforms):
    document = client.get("/openapi.json").json
    response = client.post("/v1/feedback", json=correction(picture_host), headers=headers)
    conforms(document, "/v1/feedback", "post", response)
    assert response.status_code == 201 and response.json["disagrees"] is True
    sha1 = response.json["picture_sha1"]
    assert counts(app) == {"pictures": 1, "feedback": 1, "review_items": 1}
    # the same key again on the same picture and model version: its vote changes, nothing is added
    again = client.post("/v1/feedback", json=correction(picture_host, picture={"sha1": sha1},
                                                         corrected={"garment": False}), headers=headers)
    conforms(document, "/v1/feedback", "post", again)
    assert (again.status_code, again.json["updated"], again.json["feedback_id"]) == (200, True,
                                                                                     response.json["feedback_id"])
    assert counts(app) == {"pictures": 1, "feedback": 1, "review_items": 1}
    other = client.post("/v1/feedback", json=correction(picture_host, picture={"sha1": sha1},
                                                         corrected={"garment": False}), headers=admin_headers)
    assert other.status_code == 201 and other.json["updated"] is False
    assert counts(app) == {"pictures": 1, "feedback": 2, "review_items": 2}

    queue = client.get("/v1/review", headers=admin_headers)
    conforms(document, "/v1/review", "get", queue)
    (item,) = queue.json["items"]  # one entry per picture, with both keys' reports
    assert item["reports"] == 2 and item["disagrees"] and item["page_url"] == "https://shop.example/p/blue-shirt"
    picture = client.get(item["picture"], headers=admin_headers)
    assert picture.status_code == 200 and hashlib.sha1(picture.data).hexdigest() == sha1
    assert picture.mimetype == "image/jpeg"

    decided = client.post(f"/v1/review/{item['id']}", json={"decision": "fix", "category": "shirt",
                                                             "colour": "blue"}, headers=admin_headers)
    conforms(document, "/v1/review/{item_id}", "post", decided)
    assert decided.json == {"id": item["id"], "status": "fixed", "category": "shirt", "colour": "blue",
                            "garment": True}
    assert client.get("/v1/review", headers=admin_headers).json["total"] == 0  # the other report closed with it
    (accepted,) = accepted_corrections(database_url)
    assert (accepted.sha1, accepted.category, accepted.colour, accepted.garment) == (sha1, "shirt", "blue", True)
    assert hashlib.sha1(accepted.picture_path.read_bytes()).hexdigest() == sha1
    twice = client.post(f"/v1/review/{item['id']}", json={"decision": "accept"}, headers=admin_headers)
    assert twice.status_code == 409
    assert client.post("/v1/review/99999", json={"decision": "accept"}, headers=admin_headers).status_code == 404


def bad_requests(picture_host, headers):
    """(what, request arguments, status, words of the reason) for feedback the API must refuse."""
    good = correction(picture_host)
    predicted = good["predicted"]
    surrogate_page = json.dumps({**good, "page_url": "https://shop.example/SURROGATE"}).replace("SURROGATE", "\\ud800")
    return [
        ("unknown category", dict(json={**good, "corrected": {"category": "cape"}}), 422, "unknown category"),
        ("unknown colour", dict(json={**good, "corrected": {"category": "shirt", "colour": "teal"}}), 422,
         "unknown colour"),
        ("no picture", dict(json={k: v for k, v in good.items() if k != "picture"}), 400, "'picture'"),
        ("picture never seen", dict(json={**good, "picture": {"sha1": "0" * 40}}), 422, "no picture is kept"),
        ("url and sha1", dict(json={**good, "picture": {"sha1": "0" * 40, "url": "http://x/y"}}), 400,
         "exactly one"),
        ("private address", dict(json={**good, "picture": {"url": "http://10.0.0.1/x.jpg"}}), 400, "non-public"),
        ("not a picture", dict(json={**good, "picture": {"url": f"http://{picture_host}/big.jpg"}}), 422,
         "not a usable picture"),
        ("garment false with a category", dict(json={**good, "corrected": {"garment": False, "category": "shirt"}}),
         400, "no garment"),
        ("no time zone", dict(json={**good, "reported_at": "2026-11-23T21:30:00"}), 400, "time zone"),
        ("unknown field", dict(json={**good, "shopper": "me"}), 400, "unknown fields"),
        ("malformed JSON", dict(data="{not json", content_type="application/json"), 400, "malformed JSON"),
        ("not JSON", dict(data="category=shirt", content_type="application/x-www-form-urlencoded"), 415, "JSON"),
        ("oversized body", dict(json={**good, "page_url": "https://shop.example/" + "p" * 20_000}), 413,
         "at most"),
        ("javascript: page", dict(json={**good, "page_url": "javascript:alert(1)"}), 400, "http or https"),
        ("data: picture", dict(json={**good, "picture": {"url": "data:image/png;base64,AAAA"}}), 400, "http or https"),
        # JSON's escape decodes to a lone surrogate, which no database stores
        ("lone surrogate in the page URL", dict(data=surrogate_page, content_type="application/json"), 400,
         "lone surrogate"),
        ("lone surrogate in a label", dict(json={**good, "predicted": {**predicted, "model_version": "1\ud800"}}),
         400, "lone surrogate"),
        ("control character in a label", dict(json={**good, "predicted": {**predicted, "category": "dr\x00ess"}}),
         400, "control characters"),
        ("no key", dict(json=good, headers={}), 401, "API key"),
        ("wrong key", dict(json=good, headers={"X-API-Key": "guess"}), 401, "API key"),
    ]


def test_bad_feedback_is_refused_with_a_reason_and_writes_nothing(app, client, headers, picture_host, settings,
                                                                   conforms):
    document = client.get("/openapi.json").json
    for what, arguments, status, reason in bad_requests(picture_host, headers):
        response = client.post("/v1/feedback", **{"headers": headers, **arguments})
        conforms(document, "/v1/feedback", "post", response)
        assert (response.status_code, reason in response.json["error"]) == (status, True), (what, response.json)
    assert counts(app) == EMPTY
    assert not any(path.is_file() for path in Path(settings.picture_store).rglob("*"))


def test_hostile_review_requests_get_a_4xx_with_a_reason_and_change_nothing(app, client, admin_headers):
    """Ids past SQL INTEGER, Unicode digits int() would take, and doubled slashes: JSON 4xx answers, never a 500."""
    before = counts(app)
    answers = [client.post("/v1/review/99999999999999999999999", json={"decision": "accept"}, headers=admin_headers),
               client.post(f"/v1/review/{2**31}", json={"decision": "accept"}, headers=admin_headers),
               client.get("/v1/review?offset=0&limit=\u00b2", headers=admin_headers),
               client.get("/v1/review?offset=\u0663&limit=5", headers=admin_headers),
               client.get("/v1//review", headers=admin_headers)]
    assert [answer.status_code for answer in answers] == [404, 404, 400, 400, 404]
    assert all(answer.is_json and answer.json["error"] for answer in answers)
    assert counts(app) == before


def test_review_queue_takes_only_admin_keys(client, headers, admin_headers, settings):
    assert client.get("/v1/review", headers=admin_headers).status_code == 200
    shopper = client.get("/v1/review", headers=headers)
    assert shopper.status_code == 403 and "shopper key" in shopper.json["error"]
    assert client.get("/v1/review").status_code == 401
    assert client.get("/v1/review", headers={"X-API-Key": "guess"}).status_code == 401
    assert client.post("/v1/review/1", json={"decision": "accept"}, headers=headers).status_code == 403
    assert client.get("/v1/vocabulary", headers=admin_headers).status_code == 200  # admins may use shopper routes
    settings.admin_keys = []
    closed = create_app(settings).test_client().get("/v1/review", headers=admin_headers)
    assert closed.status_code == 403 and "SHOPLENS_ADMIN_KEYS" in closed.json["error"]
    page = client.get("/review")
    assert page.status_code == 200 and page.mimetype == "text/html" and b"/v1/review" in page.data


def test_uncertain_answers_enter_the_queue_once_and_corrections_come_first(app, client, headers, admin_headers,
                                                                           picture, picture_host, settings):
    settings.review_confidence = 1.01  # every new answer counts as uncertain
    services = app.extensions["shoplens"]
    uncertain = [picture("pants", "red", seed=80), picture("dress", "blue", seed=81)]
    for body in [*uncertain, uncertain[0]]:  # the repeat is a cache hit: not offered again
        assert client.post("/v1/classify", data=body, content_type="image/jpeg", headers=headers).status_code == 200
    assert services.corrections.drain(timeout=30)
    assert counts(app) == {"pictures": 2, "feedback": 0, "review_items": 2}
    client.post("/v1/feedback", json=correction(picture_host), headers=headers)
    queue = client.get("/v1/review?limit=2", headers=admin_headers).json
    assert queue["total"] == 3 and queue["next_offset"] == 2
    first, second = queue["items"]
    assert first["reason"] == "correction" and second["reason"] == "uncertain"
    assert 0.0 <= second["uncertainty"] <= 1.0 and second["proposed"] is None
    rest = client.get("/v1/review?offset=2&limit=2", headers=admin_headers).json
    assert len(rest["items"]) == 1 and rest["next_offset"] is None
    assert client.get("/v1/review?limit=0", headers=admin_headers).status_code == 400
    accepted = client.post(f"/v1/review/{second['id']}", json={"decision": "accept"}, headers=admin_headers).json
    assert accepted["status"] == "accepted" and accepted["category"] == second["predicted"]["category"]


def test_a_correction_of_a_cached_answer_carries_its_uncertainty(client, headers, admin_headers, picture_host):
    url = f"http://{picture_host}/pic.jpg"
    answer = client.post("/v1/classify", json={"url": url}, headers=headers).json
    wrong = next(label["label"] for label in answer["labels"] if label["label"] != answer["category"])
    client.post("/v1/feedback", headers=headers, json={
        "picture": {"url": url}, "predicted": {"category": answer["category"], "model_version": answer["version"]},
        "corrected": {"category": wrong}})
    (item,) = client.get("/v1/review", headers=admin_headers).json["items"]
    top, second = (label["probability"] for label in answer["labels"][:2])
    assert item["predicted"]["probability"] == top
    assert item["uncertainty"] == pytest.approx(1 - (top - second))


def test_feedback_is_rate_limited_per_key(settings, database_url, picture_host, headers):
    settings.database_url, settings.fetch_allow_hosts, settings.rate_limit = database_url, [picture_host], 2
    app = create_app(settings)
    client = app.test_client()
    statuses = [client.post("/v1/feedback", json=correction(picture_host), headers=headers).status_code
                for _ in range(3)]
    assert statuses == [201, 200, 429]  # the repeat updates the key's vote; the limit still counts it
    assert counts(app) == {"pictures": 1, "feedback": 1, "review_items": 1}
    app.extensions["shoplens"].corrections.store().close()
