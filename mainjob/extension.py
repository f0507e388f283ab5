"""The ShopLens extension in headless Chromium, driven as a user does: fill in its options,
open a shop, scroll through it, read the badges it put on the product cards (the test
shop's `.product-card`)."""

from __future__ import annotations

import time
from pathlib import Path

from shoplens import ShopLensError
from shoplens.browser import start_chromium
from shoplens.processes import wait_for

EXTENSION_DIR = Path(__file__).resolve().parents[1] / "extension"
LABELLED = ("return Array.from(document.querySelectorAll('img[data-shoplens-label]')).map(i => "
            "[i.closest('.product-card')?.dataset.id || i.src, i.dataset.shoplensLabel, i.dataset.shoplensLow])")
CARDS = "return Array.from(document.querySelectorAll('.product-card')).map(c => c.dataset.id)"


class ExtensionBrowser:
    """Headless Chromium with the ShopLens extension (`extension/`) loaded."""

    def __init__(self, profile: Path) -> None:
        flags = (f"--load-extension={EXTENSION_DIR}", f"--disable-extensions-except={EXTENSION_DIR}")
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

    def scroll_through(self, step: int = 600, pause: float = 0.2) -> None:
        """Scrolls to the page's end a screen at a time, as a shopper does: lazy pictures load."""
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        for top in range(0, height + step, step):
            self.driver.execute_script(f"window.scrollTo(0, {top})")
            time.sleep(pause)

    def quit(self) -> None:
        self.driver.quit()
