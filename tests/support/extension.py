"""The extension driver's test-only parts: the popup opener and the test shop's card queries."""

from __future__ import annotations

from mainjob.extension import ExtensionBrowser

LABELLED_CARDS = (
    "return Array.from(document.querySelectorAll('.product-card')).filter(c => c.querySelector("
    "'img[data-shoplens-label]')).map(c => [c.querySelector('img').dataset.shoplensCategory,"
    " c.querySelector('img').dataset.shoplensColour, getComputedStyle(c).display])")


class PopupBrowser(ExtensionBrowser):
    """The main job's extension driver plus what only the tests do: open the popup, read cards."""

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

    def labelled_ids(self) -> set[str]:
        return {card for card, _, _ in self.labelled()}

    def labelled_cards(self) -> list[list[str]]:
        """[category, colour, CSS display] of every card whose picture has a badge."""
        return self.driver.execute_script(LABELLED_CARDS)
