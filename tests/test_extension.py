"""The browser extension end to end: real headless Chromium with the extension loaded, the
test shop's storefront, the gunicorn-run API with a real TorchServe and redis-server."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from crawler.testshop import Catalogue, serve_shop
from mainjob.extension import EXTENSION_DIR
from serving.operations.stack import ApiServer
from shoplens.processes import free_port, wait_for
from shoplens.settings import TEST_ARTIFACTS


@pytest.fixture(scope="module")
def api(torchserve, redis_server, api_settings):
    server, _ = torchserve
    with ApiServer(api_settings(server, redis_server)).start() as running:
        yield running


@pytest.fixture()
def artifacts(root) -> Path:
    return root / TEST_ARTIFACTS.read()  # an absolute path stays as it is


def test_the_extension_labels_the_shop(browser, api, api_key, tiny_labels, artifacts):
    catalogue = Catalogue.build(*tiny_labels, per_label=3)
    listed = catalogue.listed()
    usable = {p.id for p in listed if p.kind not in ("broken", "not_an_image")}
    with serve_shop(catalogue) as (shop, _):
        browser.configure(api.url, api_key)
        browser.driver.get(f"{shop}/shop")

        # the first screenful: every product picture gets a badge, no icon, sprite or pixel does
        first = {p.id for p in listed[:8]}
        wait_for(lambda: first <= browser.labelled_ids(), 30, "badges on the first products")
        icons = browser.driver.execute_script("return Array.from(document.querySelectorAll('nav img, header img'))"
                                       ".filter(i => i.dataset.shoplensLabel).length")
        assert icons == 0

        # infinite scroll: the products that arrive later get badges too; unusable pictures none
        browser.scroll_to_the_end(len(listed))
        wait_for(lambda: browser.labelled_ids() == usable, 40, "badges on every usable product")
        badges = browser.driver.execute_script(
            "return document.querySelector('shoplens-badges').shadowRoot.querySelectorAll('.badge').length")
        assert badges == len(usable)

        # a badge takes no clicks: the point under it is still the product's picture
        under = browser.driver.execute_script(
            "const img = document.querySelector('img[data-shoplens-label]'); img.scrollIntoView();"
            "const r = img.getBoundingClientRect(); return document.elementFromPoint(r.left + 8, r.top + 8) === img")
        assert under is True
        browser.driver.execute_script("window.scrollTo(0, 0)")
        artifacts.mkdir(parents=True, exist_ok=True)
        assert browser.driver.save_screenshot(str(artifacts / "extension-shop.png"))

        # the popup's counts match the page, and its filter hides exactly the other products
        page_labels = browser.driver.execute_script(
            "return Array.from(document.querySelectorAll('img[data-shoplens-label]'))"
            ".map(i => [i.dataset.shoplensCategory, i.dataset.shoplensColour])")
        categories, colours = Counter(c for c, _ in page_labels), Counter(k for _, k in page_labels)
        shop_window = browser.open_popup(shop)
        wait_for(lambda: browser.driver.find_element("id", "total").text == str(len(usable)), 10, "the popup's counts")

        def table(body):
            return {row.get_attribute("data-name"): int(row.find_elements("tag name", "td")[1].text)
                    for row in browser.driver.find_elements("css selector", f"#{body} tr")}

        assert table("categories") == dict(categories) and table("colours") == dict(colours)
        category, colour = categories.most_common(1)[0][0], min(colours)  # "only red dresses"
        browser.driver.find_element("css selector", f"#filter-category option[value='{category}']").click()
        browser.driver.find_element("css selector", f"#filter-colour option[value='{colour}']").click()
        browser.driver.find_element("css selector", "input[name=mode][value=hide]").click()
        browser.driver.find_element("id", "apply").click()
        browser.driver.close()
        browser.driver.switch_to.window(shop_window)
        cards = wait_for(browser.labelled_cards, 10, "the filter")
        shown = [(c, k) for c, k, display in cards if display != "none"]
        hidden = [(c, k) for c, k, display in cards if display == "none"]
        assert shown and hidden, "the filter should keep some products and hide others"
        assert all((c, k) == (category, colour) for c, k in shown)
        assert all((c, k) != (category, colour) for c, k in hidden)

        # switched off for this site: every badge, mark and filter goes
        browser.configure(api.url, api_key, disabled_sites=shop)
        browser.driver.get(f"{shop}/shop")
        time.sleep(2)
        leftovers = browser.driver.execute_script(
            "return document.querySelectorAll('shoplens-badges, [data-shoplens-label], [data-shoplens-filter]').length")
        assert leftovers == 0


@pytest.mark.parametrize("failure, says", [("unreachable", "ShopLens API unreachable"),
                                            ("unauthorized", "API key refused")])
def test_api_failure_shows_one_status_and_no_badges_then_recovers(browser, api, torchserve, redis_server,
                                                                  api_settings, api_key, tiny_labels, failure, says):
    server, _ = torchserve
    port = free_port()
    seed = {"unreachable": 7, "unauthorized": 8}[failure]  # pictures not seen before
    catalogue = Catalogue.build(*tiny_labels, per_label=1, seed=seed)
    with serve_shop(catalogue) as (shop, _):
        if failure == "unreachable":
            browser.configure(f"http://127.0.0.1:{port}", api_key)  # nothing listens there yet
        else:
            browser.configure(api.url, "not-the-key")
        browser.driver.get(f"{shop}/shop")
        time.sleep(3)
        assert browser.labelled() == []
        browser.open_popup(shop)
        status = wait_for(lambda: browser.driver.find_element("id", "status").get_attribute("data-state") != "ok"
                          and browser.driver.find_element("id", "status").text, 10, "the popup's status")
        assert status.startswith(says)
        browser.driver.close()
        browser.driver.switch_to.window(browser.driver.window_handles[0])
        if failure == "unreachable":
            with ApiServer(api_settings(server, redis_server), port).start():
                # the content script retries with backoff; the badges come once the API is back
                wait_for(lambda: len(browser.labelled()) > 0, 45, "badges after the API came back")
        else:
            browser.configure(api.url, api_key)
            browser.driver.get(f"{shop}/shop")
            wait_for(lambda: len(browser.labelled()) > 0, 45, "badges with the right key")


def test_packages_for_chrome_and_firefox_hold_every_file_they_name_and_lint_clean(tmp_path):
    """`npm run package`: web-ext builds the Chrome zip and the Firefox one from the same files,
    and Mozilla's linter passes the Firefox build with warnings counted as errors."""
    import json
    import re
    import shutil
    import subprocess
    import zipfile

    npm = shutil.which("npm")
    assert npm, "npm is missing: run scripts/setup.sh"
    result = subprocess.run([npm, "run", "--silent", "package"], cwd=EXTENSION_DIR, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    version = json.loads((EXTENSION_DIR / "manifest.json").read_text())["version"]
    for browser in ("chrome", "firefox"):
        with zipfile.ZipFile(EXTENSION_DIR / "dist" / browser / f"shoplens-{version}.zip") as packed:
            assert packed.testzip() is None
            names = set(packed.namelist())
            manifest = json.loads(packed.read("manifest.json"))
            texts = {name: packed.read(name).decode() for name in names if name.endswith((".js", ".html"))}
        background = manifest["background"]
        named = {*manifest["icons"].values(), manifest["action"]["default_popup"], manifest["options_page"],
                 *background.get("scripts", []), *([background["service_worker"]] if browser == "chrome" else [])}
        for name, text in texts.items():
            named |= set(re.findall(r"""(?:src|href)="([\w./-]+\.(?:js|css))\"""", text))
            named |= set(re.findall(r'"((?:lib/)?[\w-]+\.js)"', text)) if name == "service_worker.js" else set()
        assert named <= names, f"{browser}: named but not packaged: {named - names}"
        assert not any(name.startswith(("test/", "node_modules/", "scripts/", "build/", "dist/")) for name in names)
        # minimal permissions, no remote code
        assert manifest["manifest_version"] == 3
        assert set(manifest["host_permissions"]) == {"http://127.0.0.1/*", "http://localhost/*"}
        assert "<all_urls>" not in json.dumps(manifest["permissions"] + manifest["host_permissions"])
        policy = manifest["content_security_policy"]["extension_pages"]
        assert "script-src 'self';" in policy and "unsafe" not in policy
        assert not any(re.search(r"<script[^>]+src=\"https?:", text) for text in texts.values())
        if browser == "firefox":  # no service worker in Firefox: the same code as background scripts
            assert "service_worker" not in background and background["scripts"][-1] == "service_worker.js"
            assert manifest["browser_specific_settings"]["gecko"]["id"]
    assert "errors          0" in result.stdout and "warnings        0" in result.stdout
