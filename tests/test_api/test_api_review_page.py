"""The review page in real headless Chromium, served by the API on loopback: a person logs in
with the admin key and decides the queue from the keyboard (j/k move, a accepts, a digit
fixes the category, n says "not a garment"); the decisions land in the database."""

from __future__ import annotations

import threading

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from sqlalchemy import select
from werkzeug.serving import make_server

from serving.api import create_app
from shoplens.browser import start_chromium
from shoplens.corrections.models import ReviewItem
from shoplens.processes import wait_for


@pytest.fixture()
def served(settings, picture_host):
    settings.fetch_allow_hosts, settings.review_confidence = [picture_host], 1.01  # every new answer is queued
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)
    app.extensions["shoplens"].corrections.store().close()


@pytest.fixture()
def chromium(tmp_path):
    driver = start_chromium(str(tmp_path / "profile"))
    yield driver
    driver.quit()


def test_a_person_decides_the_queue_from_the_keyboard(served, chromium, headers, admin_headers, picture,
                                                      picture_host, serving_stack):
    app, url = served
    client = app.test_client()
    for body in (picture("pants", "red", seed=90), picture("dress", "blue", seed=91)):
        client.post("/v1/classify", data=body, content_type="image/jpeg", headers=headers)
    assert app.extensions["shoplens"].corrections.drain(timeout=30)
    client.post("/v1/feedback", headers=headers, json={
        "picture": {"url": f"http://{picture_host}/pic.jpg"}, "predicted": {"category": "dress",
                                                                          "model_version": "1.0"},
        "corrected": {"category": "shirt"}})
    order = [item["id"] for item in client.get("/v1/review", headers=admin_headers).json["items"]]
    assert len(order) == 3

    chromium.get(f"{url}/review")
    chromium.find_element(By.ID, "key").send_keys(admin_headers["X-API-Key"] + "\n")
    def rows():  # the list is redrawn on every move: read it whole, in the page
        return chromium.execute_script("return [...document.querySelectorAll('#list li')].map(li => li.className)")

    wait_for(lambda: len(rows()) == 3 and chromium.find_element(By.ID, "picture").get_attribute("src"), 15,
             "the queue on the page")

    def current():
        return [row.split() for row in rows()].index(["current"])

    keys = ActionChains(chromium)
    keys.send_keys("j").perform()
    assert wait_for(lambda: current() == 1, 5, "j to move down")
    keys.send_keys("k").perform()
    assert wait_for(lambda: current() == 0, 5, "k to move up")
    categories = serving_stack.bundle["tasks"]["category"]
    for key in ("a", "2", "n"):  # accept the correction, fix the next to the 2nd category, the last is no garment
        before = sum("done" in row for row in rows())
        keys.send_keys(key).perform()
        wait_for(lambda before=before: sum("done" in row for row in rows()) == before + 1, 10,
                 f"the decision of {key!r}")

    with app.extensions["shoplens"].corrections.store().session() as session:
        items = {item.id: item for item in session.scalars(select(ReviewItem))}
    first, second, third = (items[item_id] for item_id in order)
    assert (first.status, first.decided_category) == ("accepted", "shirt")
    assert (second.status, second.decided_category, second.decided_garment) == ("fixed", categories[1], True)
    assert (third.status, third.decided_category, third.decided_garment) == ("fixed", None, False)


HOSTILE = '<img src=x onerror="window.__ran = 1"><script>window.__ran = 2</script>'


def test_shopper_supplied_text_is_shown_as_text_and_runs_nothing(served, chromium, headers, admin_headers,
                                                                  picture_host):
    """A stored answer naming markup (the predicted category and model version are the shopper's words) is drawn
    as the very characters sent: no element made from it, no handler run."""
    app, url = served
    sent = app.test_client().post("/v1/feedback", headers=headers, json={
        "picture": {"url": f"http://{picture_host}/pic.jpg"}, "page_url": "https://shop.example/p?q=<b>x</b>",
        "predicted": {"category": HOSTILE[:60], "model_version": HOSTILE[:60]}, "corrected": {"category": "shirt"}})
    assert sent.status_code == 201, sent.json
    chromium.get(f"{url}/review")
    chromium.find_element(By.ID, "key").send_keys(admin_headers["X-API-Key"] + "\n")
    wait_for(lambda: HOSTILE[:20] in chromium.find_element(By.ID, "facts").text, 15, "the hostile item on the page")
    assert chromium.execute_script("return window.__ran") is None
    assert chromium.execute_script("return document.querySelectorAll('#facts *:not(p), #list img').length") == 0
    assert HOSTILE[:40] in chromium.find_element(By.ID, "list").text
