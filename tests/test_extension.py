"""The browser extension end to end: real headless Chromium with the extension loaded, the
test shop's storefront, the gunicorn-run API with a real TorchServe and redis-server."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest

from crawler.middlewares import start_chromium
from crawler.testshop import Catalogue, serve_shop
from serving.stack import ApiServer, free_port
from tests.conftest import API_KEY, ROOT, TINY_CATEGORIES, TINY_COLOURS, api_settings

EXTENSION = ROOT / "extension"
ARTIFACTS = Path(os.environ.get("SHOPLENS_TEST_ARTIFACTS", ROOT / "runs" / "test-artifacts"))

LABELLED = ("return Array.from(document.querySelectorAll('img[data-shoplens-label]'))"
            ".map(i => i.closest('.product-card')?.dataset.id || i.src)")
CARDS = "return Array.from(document.querySelectorAll('.product-card')).map(c => c.dataset.id)"


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def api(torchserve, redis_server):
    server, _ = torchserve
    port = free_port()
    with ApiServer(api_settings(server, redis_server), port).start() as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    driver = start_chromium(str(profile), (f"--load-extension={EXTENSION}", f"--disable-extensions-except={EXTENSION}"))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def extension_id(browser):
    def worker():
        targets = browser.execute_cdp_cmd("Target.getTargets", {})["targetInfos"]
        return next((t["url"].split("/")[2] for t in targets
                     if t["type"] == "service_worker" and t["url"].startswith("chrome-extension://")), None)

    return wait_for(worker, 20, "the extension's service worker")


def configure(browser, extension_id, endpoint: str, key: str = API_KEY, disabled_sites: str = "") -> None:
    """Fill in and save the options page, as a user does."""
    browser.get(f"chrome-extension://{extension_id}/options.html")
    wait_for(lambda: browser.execute_script("return document.getElementById('endpoint').value"), 10, "options")
    for element_id, value in (("endpoint", endpoint), ("api-key", key), ("disabled-sites", disabled_sites)):
        field = browser.find_element("id", element_id)
        field.clear()
        if value:
            field.send_keys(value)
    browser.find_element("css selector", "button[type=submit]").click()
    wait_for(lambda: browser.find_element("id", "saved").text == "saved", 10, "the options to be saved")


def scroll_to_the_end(browser, cards: int) -> None:
    def loaded():
        browser.execute_script("window.scrollTo(0, document.body.scrollHeight)")
        return len(browser.execute_script(CARDS)) >= cards

    wait_for(loaded, 30, f"{cards} product cards (infinite scroll)")


def open_popup(browser, extension_id, shop_url: str) -> str:
    """Opens the popup as a page working on the shop's tab; returns the shop tab's window handle."""
    shop_window = browser.current_window_handle
    browser.switch_to.new_window("tab")
    browser.get(f"chrome-extension://{extension_id}/popup.html")
    tab_id = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        f"chrome.tabs.query({{url: '{shop_url}/*'}}).then(tabs => done(tabs[0].id));")
    browser.get(f"chrome-extension://{extension_id}/popup.html?tab={tab_id}")
    return shop_window


def test_the_extension_labels_the_shop(browser, extension_id, api, tmp_path):
    catalogue = Catalogue.build(TINY_CATEGORIES, TINY_COLOURS, per_label=3)
    listed = catalogue.listed()
    usable = {p.id for p in listed if p.kind not in ("broken", "not_an_image")}
    with serve_shop(catalogue) as (shop, _):
        configure(browser, extension_id, api.url)
        browser.get(f"{shop}/shop")

        # the first screenful: every product picture gets a badge, no icon, sprite or pixel does
        first = {p.id for p in listed[:8]}
        wait_for(lambda: first <= set(browser.execute_script(LABELLED)), 30, "badges on the first products")
        icons = browser.execute_script("return Array.from(document.querySelectorAll('nav img, header img'))"
                                       ".filter(i => i.dataset.shoplensLabel).length")
        assert icons == 0

        # infinite scroll: the products that arrive later get badges too; unusable pictures none
        scroll_to_the_end(browser, len(listed))
        wait_for(lambda: set(browser.execute_script(LABELLED)) == usable, 40, "badges on every usable product")
        badges = browser.execute_script(
            "return document.querySelector('shoplens-badges').shadowRoot.querySelectorAll('.badge').length")
        assert badges == len(usable)

        # a badge takes no clicks: the point under it is still the product's picture
        under = browser.execute_script(
            "const img = document.querySelector('img[data-shoplens-label]'); img.scrollIntoView();"
            "const r = img.getBoundingClientRect(); return document.elementFromPoint(r.left + 8, r.top + 8) === img")
        assert under is True
        browser.execute_script("window.scrollTo(0, 0)")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "extension-shop.png"))

        # the popup's counts match the page, and its filter hides exactly the other products
        page_labels = browser.execute_script(
            "return Array.from(document.querySelectorAll('img[data-shoplens-label]'))"
            ".map(i => [i.dataset.shoplensCategory, i.dataset.shoplensColour])")
        categories, colours = Counter(c for c, _ in page_labels), Counter(k for _, k in page_labels)
        shop_window = open_popup(browser, extension_id, shop)
        wait_for(lambda: browser.find_element("id", "total").text == str(len(usable)), 10, "the popup's counts")

        def table(body):
            return {row.get_attribute("data-name"): int(row.find_elements("tag name", "td")[1].text)
                    for row in browser.find_elements("css selector", f"#{body} tr")}

        assert table("categories") == dict(categories) and table("colours") == dict(colours)
        category, colour = categories.most_common(1)[0][0], min(colours)  # "only red dresses"
        browser.find_element("css selector", f"#filter-category option[value='{category}']").click()
        browser.find_element("css selector", f"#filter-colour option[value='{colour}']").click()
        browser.find_element("css selector", "input[name=mode][value=hide]").click()
        browser.find_element("id", "apply").click()
        browser.close()
        browser.switch_to.window(shop_window)
        cards = wait_for(lambda: browser.execute_script(
            "return Array.from(document.querySelectorAll('.product-card')).filter(c => c.querySelector("
            "'img[data-shoplens-label]')).map(c => [c.querySelector('img').dataset.shoplensCategory,"
            " c.querySelector('img').dataset.shoplensColour, getComputedStyle(c).display])"), 10, "the filter")
        shown = [(c, k) for c, k, display in cards if display != "none"]
        hidden = [(c, k) for c, k, display in cards if display == "none"]
        assert shown and hidden, "the filter should keep some products and hide others"
        assert all((c, k) == (category, colour) for c, k in shown)
        assert all((c, k) != (category, colour) for c, k in hidden)

        # switched off for this site: every badge, mark and filter goes
        configure(browser, extension_id, api.url, disabled_sites=shop)
        browser.get(f"{shop}/shop")
        time.sleep(2)
        leftovers = browser.execute_script(
            "return document.querySelectorAll('shoplens-badges, [data-shoplens-label], [data-shoplens-filter]').length")
        assert leftovers == 0


def test_api_down_shows_one_status_and_no_badges_then_recovers(browser, extension_id, torchserve, redis_server):
    server, _ = torchserve
    port = free_port()
    catalogue = Catalogue.build(TINY_CATEGORIES, TINY_COLOURS, per_label=1, seed=7)  # pictures not seen before
    with serve_shop(catalogue) as (shop, _):
        configure(browser, extension_id, f"http://127.0.0.1:{port}")  # nothing listens there yet
        browser.get(f"{shop}/shop")
        time.sleep(3)
        assert browser.execute_script(LABELLED) == []
        open_popup(browser, extension_id, shop)
        status = wait_for(lambda: browser.find_element("id", "status").get_attribute("data-state") != "ok"
                          and browser.find_element("id", "status").text, 10, "the popup's status")
        assert "unreachable" in status
        browser.close()
        browser.switch_to.window(browser.window_handles[0])
        with ApiServer(api_settings(server, redis_server), port).start():
            # the content script retries with backoff; the badges come once the API is back
            wait_for(lambda: len(browser.execute_script(LABELLED)) > 0, 45, "badges after the API came back")


def test_packaged_zip_holds_every_file_the_extension_names_and_asks_little(tmp_path):
    import json
    import re
    import shutil
    import subprocess
    import zipfile

    npm = shutil.which("npm")
    assert npm, "npm is missing: run scripts/setup.sh"
    result = subprocess.run([npm, "run", "--silent", "package"], cwd=EXTENSION, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((EXTENSION / "manifest.json").read_text())
    archive = EXTENSION / "dist" / f"shoplens-extension-{manifest['version']}.zip"
    with zipfile.ZipFile(archive) as packed:
        assert packed.testzip() is None
        names = set(packed.namelist())
        texts = {name: packed.read(name).decode() for name in names if name.endswith((".js", ".html"))}
    named = {*manifest["icons"].values(), manifest["background"]["service_worker"],
             manifest["action"]["default_popup"], manifest["options_page"]}
    for name, text in texts.items():
        named |= set(re.findall(r"""(?:src|href)="([\w./-]+\.(?:js|css))\"""", text))
        named |= set(re.findall(r'"((?:lib/)?[\w-]+\.js)"', text)) if name == "service_worker.js" else set()
    assert named <= names, f"named but not packaged: {named - names}"
    assert not any(name.startswith(("test/", "node_modules/")) for name in names)
    # minimal permissions, no remote code
    assert manifest["manifest_version"] == 3
    assert set(manifest["host_permissions"]) == {"http://127.0.0.1/*", "http://localhost/*"}
    assert "<all_urls>" not in json.dumps(manifest["permissions"] + manifest["host_permissions"])
    policy = manifest["content_security_policy"]["extension_pages"]
    assert "script-src 'self';" in policy and "unsafe" not in policy
    assert not any(re.search(r"<script[^>]+src=\"https?:", text) for text in texts.values())
