"""Headless Chromium for the crawler's JavaScript pages and for the extension: the flags
that let it start on a machine with no outside network, and a driver for the ShopLens
extension (options, popup, badges) used by the end-to-end tests and the main job."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from shoplens import ShopLensError
from shoplens.processes import wait_for

CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1600",
)
EXTENSION_DIR = Path(__file__).resolve().parents[1] / "extension"


def chromium_options(user_data_dir: str, extra: tuple[str, ...] = ()) -> Any:
    """Chromium options that start quickly on a machine with no outside network."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={user_data_dir}", *extra):
        options.add_argument(flag)
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if binary:
        options.binary_location = binary
    return options


def start_chromium(user_data_dir: str, extra: tuple[str, ...] = ()) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    driver_path = shutil.which("chromedriver")
    service = Service(executable_path=driver_path) if driver_path else Service()
    return webdriver.Chrome(service=service, options=chromium_options(user_data_dir, extra))


LABELLED = ("return Array.from(document.querySelectorAll('img[data-shoplens-label]')).map(i => "
            "[i.closest('.product-card')?.dataset.id || i.src, i.dataset.shoplensLabel, i.dataset.shoplensLow])")
CARDS = "return Array.from(document.querySelectorAll('.product-card')).map(c => c.dataset.id)"


class ExtensionBrowser:
    """Headless Chromium with the ShopLens extension loaded from `extension_dir`."""

    def __init__(self, profile: Path, extension_dir: Path = EXTENSION_DIR) -> None:
        flags = (f"--load-extension={extension_dir}", f"--disable-extensions-except={extension_dir}")
        self.driver = start_chromium(str(profile), flags)
        self.driver.set_page_load_timeout(30)
        try:
            self.extension_id = wait_for(self._service_worker_id, 20, "the extension's service worker")
        except ShopLensError:
            self.quit()
            raise

    def _service_worker_id(self) -> str | None:
        targets = self.driver.execute_cdp_cmd("Target.getTargets", {})["targetInfos"]
        return next((t["url"].split("/")[2] for t in targets
                     if t["type"] == "service_worker" and t["url"].startswith("chrome-extension://")), None)

    def page(self, name: str) -> str:
        return f"chrome-extension://{self.extension_id}/{name}"

    def configure(self, endpoint: str, key: str, disabled_sites: str = "") -> None:
        """Fill in and save the options page, as a user does."""
        driver = self.driver
        driver.get(self.page("options.html"))
        wait_for(lambda: driver.execute_script("return document.getElementById('endpoint').value"), 10, "options")
        for element_id, value in (("endpoint", endpoint), ("api-key", key), ("disabled-sites", disabled_sites)):
            field = driver.find_element("id", element_id)
            field.clear()
            if value:
                field.send_keys(value)
        driver.find_element("css selector", "button[type=submit]").click()
        wait_for(lambda: driver.find_element("id", "saved").text == "saved", 10, "the options to be saved")

    def labelled(self) -> list[list[str]]:
        """[card id, badge text, low-confidence "true"/"false"] for every picture with a badge."""
        return self.driver.execute_script(LABELLED)

    def scroll_to_the_end(self, cards: int, timeout: float = 30) -> None:
        found: list[int] = [0]

        def loaded() -> bool:
            self.driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
            found[0] = len(self.driver.execute_script(CARDS))
            return found[0] >= cards

        try:
            wait_for(loaded, timeout, f"{cards} product cards (infinite scroll)")
        except ShopLensError as exc:
            logs = [entry["message"] for entry in self.driver.get_log("browser")][-3:]
            raise ShopLensError(f"{exc}: {found[0]} on the page; browser console: {logs}") from None

    def open_popup(self, shop_url: str) -> str:
        """Opens the popup in a new tab, working on the shop's tab; returns the shop tab's handle."""
        driver = self.driver
        shop_window = driver.current_window_handle
        driver.switch_to.new_window("tab")
        driver.get(self.page("popup.html"))
        tab_id = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "chrome.tabs.query({url: arguments[0] + '/*'}).then(tabs => done(tabs[0].id));", shop_url)
        driver.get(self.page(f"popup.html?tab={tab_id}"))
        return shop_window

    def quit(self) -> None:
        self.driver.quit()
