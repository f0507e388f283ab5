"""The badge's hover card in real headless Chromium with the extension loaded, against the test
shop, the gunicorn-run API (real TorchServe and redis-server), a real FAISS catalogue index
built by `shoplens-index` from a crawl of that same shop and a corrections database (SQLite):
"More like this" reached by mouse hover and by keyboard lists the indexed products; "Wrong
label?" asks for consent once, changes the badge at once and the correction reaches the
database; with sending switched off in the options, nothing more arrives there."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select
from sqlalchemy import select

from crawler.testshop import Catalogue, serve_shop
from serving.operations.stack import ApiServer
from shoplens.corrections.models import Feedback
from shoplens.corrections.store import open_store
from shoplens.processes import wait_for

BADGE_WAIT = 90  # seconds: the machine is shared, TorchServe answers the first pictures slowly
PRODUCT = "p00003"  # a regular product with a plain <img> (the shop sells copies of p00000 and p00001)

# What has the keyboard's focus, looked for through open shadow roots: "badge", the text of a
# button, or the element's tag.
FOCUSED = """
let active = document.activeElement;
while (active && active.shadowRoot && active.shadowRoot.activeElement) active = active.shadowRoot.activeElement;
if (!active) return null;
if (active.classList.contains('badge')) return 'badge:' + active.dataset.for;
return active.tagName === 'BUTTON' ? active.textContent : active.tagName;
"""
# The similar-products panel as a shopper reads it: one row per product.
PANEL = """
const host = document.querySelector('shoplens-similar');
if (!host) return null;
return [...host.shadowRoot.querySelectorAll('li')].map((item) => ({
  link: item.querySelector('a') && item.querySelector('a').href, thumbnail: item.querySelector('img').src,
  loaded: item.querySelector('img').complete && item.querySelector('img').naturalWidth > 0,
  text: item.textContent}));
"""
# The correction dialog's status line, or None when no dialog is open.
CORRECTION = """
const host = document.querySelector('shoplens-correction');
return host ? host.shadowRoot.querySelector('[role=status]').textContent : null;
"""


def run(*argv: str, cwd=None) -> None:
    result = subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=300, cwd=cwd)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def shop(tiny_labels, served_bundle, tmp_path_factory, root):
    """The test shop, crawled and indexed (the index embedded by the served model): (URL, index folder)."""
    categories, colours = tiny_labels
    folder = tmp_path_factory.mktemp("hovercard")
    with serve_shop(Catalogue.build(categories, colours, per_label=2)) as (url, _):
        run("crawler", "crawl", "--start", url, "--categories", ",".join(categories), "--colours", ",".join(colours),
            "--out", str(folder / "crawl"), "--no-throttle", cwd=root)
        run("serving.index", "build", "--manifest", str(folder / "crawl" / "manifest.csv"), "--bundle",
            str(served_bundle), "--index", str(folder / "index"))
        yield url, folder / "index"


@pytest.fixture(scope="module")
def corrections(tmp_path_factory) -> tuple[str, str]:
    """The corrections database's URL (a SQLite file) and picture store folder."""
    folder = tmp_path_factory.mktemp("corrections")
    return f"sqlite:///{folder / 'corrections.sqlite3'}", str(folder / "pictures")


@pytest.fixture(scope="module")
def api(torchserve, redis_server, api_settings, shop, corrections):
    server, _ = torchserve
    url, index = shop
    database, pictures = corrections
    extra = {"SHOPLENS_INDEX_DIR": str(index), "SHOPLENS_DATABASE_URL": database, "SHOPLENS_PICTURE_STORE": pictures,
             "SHOPLENS_FETCH_ALLOW_HOSTS": urlsplit(url).netloc}  # the API fetches corrected pictures from the shop
    with ApiServer({**api_settings(server, redis_server), **extra}).start() as running:
        yield running


@pytest.fixture()
def storefront(browser, api, api_key, shop):
    """The shop's storefront in the browser, its first products labelled; yields (driver, shop URL)."""
    url, _ = shop
    browser.configure(api.url, api_key)
    browser.driver.get(f"{url}/shop")
    wait_for(lambda: PRODUCT in browser.labelled_ids(), BADGE_WAIT, f"the badge of {PRODUCT}")
    yield browser.driver, url


def badge_of(driver, product: str):
    """The badge element (in the overlay's shadow root) of the product's picture."""
    img = driver.find_element("css selector", f".product-card[data-id={product}] img")
    layer = driver.find_element("css selector", "shoplens-badges").shadow_root
    return img, layer.find_element("css selector", f".badge[data-for='{img.get_attribute('data-shoplens-id')}']")


def check_panel(driver, shop_url: str) -> list[dict]:
    """Waits for the panel's products; each has a thumbnail, its shop and labels and a link into the
    shop; the product whose picture was asked comes first."""
    rows = wait_for(lambda: driver.execute_script(PANEL), 60, "the similar products")
    assert len(rows) >= 3
    for row in rows:
        assert row["link"].startswith(f"{shop_url}/p/"), row
        assert row["thumbnail"].startswith(f"{shop_url}/img/"), row
        assert "127.0.0.1" in row["text"] and "% similar" in row["text"], row
    assert rows[0]["link"] == f"{shop_url}/p/{PRODUCT}"
    wait_for(lambda: all(row["loaded"] for row in driver.execute_script(PANEL)), 10, "the thumbnails")
    return rows


def test_more_like_this_by_hover_and_the_picture_still_takes_its_click(storefront):
    driver, shop_url = storefront
    img, badge = badge_of(driver, PRODUCT)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", img)
    ActionChains(driver).move_to_element(img).perform()
    wait_for(lambda: "expanded" in badge.get_attribute("class"), 10, "the hover card")
    button = badge.find_element("css selector", "button[data-action=similar]")
    assert button.text == "More like this" and button.is_displayed()
    ActionChains(driver).move_to_element(button).click().perform()  # a real click where the button shows
    check_panel(driver, shop_url)
    driver.find_element("css selector", "shoplens-similar").shadow_root.find_element(
        "css selector", ".close").click()
    assert driver.execute_script(PANEL) is None

    # the rest of the picture is still the page's: a click there follows the card's link
    ActionChains(driver).move_to_element_with_offset(img, 0, img.size["height"] // 3).click().perform()
    wait_for(lambda: driver.current_url.endswith(f"/p/{PRODUCT}"), 10, "the card's link to take the click")


def test_more_like_this_by_keyboard_and_escape_gives_focus_back(storefront):
    driver, shop_url = storefront
    _, badge = badge_of(driver, PRODUCT)
    target = f"badge:{badge.get_attribute('data-for')}"
    driver.execute_script("document.activeElement && document.activeElement.blur()")
    keys = ActionChains(driver)
    for _ in range(200):  # Tab through the page's links, then the badges in page order
        keys.send_keys(Keys.TAB).perform()
        if driver.execute_script(FOCUSED) == target:
            break
    assert driver.execute_script(FOCUSED) == target
    button = badge.find_element("css selector", "button[data-action=similar]")
    assert button.is_displayed()  # focused, the badge opens into its hover card
    keys.send_keys(Keys.TAB).perform()
    assert driver.execute_script(FOCUSED) == "More like this"
    keys.send_keys(Keys.ENTER).perform()
    check_panel(driver, shop_url)
    assert driver.execute_script(FOCUSED) == "×"  # the panel's close button
    keys.send_keys(Keys.ESCAPE).perform()
    wait_for(lambda: driver.execute_script(PANEL) is None, 5, "Escape to close the panel")
    assert driver.execute_script(FOCUSED) == "More like this"

    # the card's next button opens the correction form, its first field focused; Escape sends nothing
    keys.send_keys(Keys.TAB).perform()
    assert driver.execute_script(FOCUSED) == "Wrong label?"
    keys.send_keys(Keys.ENTER).perform()
    wait_for(lambda: driver.execute_script(FOCUSED) == "SELECT", 20, "the correction form")
    keys.send_keys(Keys.ESCAPE).perform()
    wait_for(lambda: driver.execute_script(CORRECTION) is None, 5, "Escape to close the form")
    assert driver.execute_script(FOCUSED) == "Wrong label?"



def corrected_in_database(corrections: tuple[str, str]) -> list[tuple[Feedback, bool]]:
    """The shoppers' corrections in the database, read through the corrections store, each with
    whether it waits in the review queue as one that disagrees with the model."""
    store = open_store(*corrections)
    try:
        with store.session() as session:
            rows = session.scalars(select(Feedback).order_by(Feedback.id)).all()
        queued = {q.item.feedback_id for q in store.review_queue(limit=100).items if q.item.disagrees}
        return [(row, row.id in queued) for row in rows]
    finally:
        store.close()


def correct(driver, product: str, category: str, colour: str, button_id: str):
    """Opens the product's hover card by mouse, "Wrong label?", picks the labels and presses `button_id`;
    returns the dialog's shadow root (as it was)."""
    img, badge = badge_of(driver, product)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", img)
    ActionChains(driver).move_to_element(img).perform()
    wait_for(lambda: "expanded" in badge.get_attribute("class"), 10, "the hover card")
    ActionChains(driver).move_to_element(badge.find_element("css selector", "button[data-action=correct]")).click() \
        .perform()
    dialog = driver.find_element("css selector", "shoplens-correction").shadow_root
    wait_for(lambda: dialog.find_elements("css selector", "#category"), 20, "the model's labels")
    Select(dialog.find_element("css selector", "#category")).select_by_value(category)
    Select(dialog.find_element("css selector", "#colour")).select_by_value(colour)
    consent = [element.text for element in dialog.find_elements("css selector", "#consent")]
    dialog.find_element("css selector", f"#{button_id}").click()
    return badge, consent


def test_a_correction_asks_consent_once_shows_at_once_and_reaches_the_database(storefront, browser, corrections,
                                                                                tiny_labels, torchserve):
    driver, shop_url = storefront
    _, bundle = torchserve
    categories, colours = tiny_labels
    img, _ = badge_of(driver, PRODUCT)
    predicted = img.get_attribute("data-shoplens-category"), img.get_attribute("data-shoplens-colour")
    category = next(name for name in categories if name != predicted[0])
    colour = next(name for name in colours if name != predicted[1])
    badge, consent = correct(driver, PRODUCT, category, colour, "agree")
    # the first correction said what is sent before anything was
    assert len(consent) == 1
    for sent in ("picture's URL", "page's URL", "model version", "labels you chose", "the time"):
        assert sent in consent[0]
    wait_for(lambda: badge.get_attribute("aria-label") == f"ShopLens: {category} · {colour} · your label", 5,
             "the badge to show the correction")
    assert "corrected" in badge.get_attribute("class")
    wait_for(lambda: driver.execute_script(CORRECTION) is None, 30, "the correction to be sent")
    assert driver.execute_script(FOCUSED) == "Wrong label?"  # the badge, changed, kept its buttons

    ((stored, queued),) = wait_for(lambda: corrected_in_database(corrections), 10, "the correction in the database")
    assert (stored.category, stored.colour, stored.garment) == (category, colour, True)
    assert (stored.predicted_category, stored.predicted_colour or "") == predicted and queued
    assert stored.picture_url == img.get_attribute("data-shoplens-source")
    assert stored.page_url == f"{shop_url}/shop"
    assert stored.model_version == str(bundle["version"])  # the version that gave the answer shown
    assert abs((datetime.now(UTC) - stored.reported_at.replace(tzinfo=UTC)).total_seconds()) < 120

    # switched off in the options: the next correction changes its badge only, nothing is sent
    driver.get(browser.page("options.html"))
    switch = wait_for(lambda: driver.find_element("id", "send-corrections"), 10, "the options")
    assert switch.is_selected()  # agreeing once turned it on
    switch.click()
    driver.find_element("css selector", "button[type=submit]").click()
    wait_for(lambda: driver.find_element("id", "saved").text == "saved", 10, "the options to be saved")
    driver.get(f"{shop_url}/shop")
    other = "p00004"
    wait_for(lambda: other in browser.labelled_ids(), BADGE_WAIT, f"the badge of {other}")
    badge, consent = correct(driver, other, category, colour, "local")
    assert consent == []
    wait_for(lambda: badge.get_attribute("aria-label") == f"ShopLens: {category} · {colour} · your label", 5,
             "the badge to show the correction")
    assert driver.execute_script(CORRECTION) is None
    assert len(corrected_in_database(corrections)) == 1
