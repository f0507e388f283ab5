"""The extension driver's test-only parts: the popup opener, the test shop's card queries and
the badges as a user sees them."""

from __future__ import annotations

from mainjob.extension import ExtensionBrowser
from shoplens.processes import wait_for

LABELLED_CARDS = (
    "return Array.from(document.querySelectorAll('.product-card')).filter(c => c.querySelector("
    "'img[data-shoplens-label]')).map(c => [c.querySelector('img').dataset.shoplensCategory,"
    " c.querySelector('img').dataset.shoplensColour, getComputedStyle(c).display])")

# Every badge of the page's layer: its text, whether it shows, its box, and its picture's element: the source the
# extension sent, what the browser shows (currentSrc or background), and the part of the
# picture left visible after the viewport and every clipping ancestor (shadow hosts included).
BADGES = """
const layer = document.querySelector(':root > shoplens-badges');  // the page's layer (a dialog holds its own)
const parent = (node) => node.parentElement || (node.parentNode && node.parentNode.host) || null;
function find(id, root) {
  const hit = root.querySelector(`[data-shoplens-id="${id}"]`);
  if (hit) return hit;
  for (const host of root.querySelectorAll('*')) {
    const inner = host.shadowRoot && find(id, host.shadowRoot);
    if (inner) return inner;
  }
  return null;
}
function visible(element) {
  const r = element.getBoundingClientRect();
  let [left, top, right, bottom] = [Math.max(0, r.left), Math.max(0, r.top),
    Math.min(innerWidth, r.right), Math.min(innerHeight, r.bottom)];
  for (let node = parent(element); node && node.nodeType === 1; node = parent(node)) {
    const style = getComputedStyle(node);
    if (style.overflow === 'visible') continue;
    const c = node.getBoundingClientRect();
    [left, top, right, bottom] = [Math.max(left, c.left), Math.max(top, c.top), Math.min(right, c.right),
      Math.min(bottom, c.bottom)];
  }
  return {box: [left, top, right, bottom], share: Math.max(0, right - left) * Math.max(0, bottom - top)
    / (r.width * r.height)};
}
return (layer ? [...layer.shadowRoot.querySelectorAll('.badge')] : []).map((badge) => {
  const element = find(badge.dataset.for, document);
  const box = badge.getBoundingClientRect();
  const shown = element && (element.tagName === 'IMG' ? element.currentSrc
    : (getComputedStyle(element).backgroundImage.match(/url\\("?([^")]*)/) || [])[1]);
  return {text: badge.firstChild.nodeValue, shows: getComputedStyle(badge).display !== 'none',
    expanded: badge.classList.contains('expanded'), box: [box.left, box.top, box.right, box.bottom],
    source: element && element.dataset.shoplensSource, current: shown,
    visible: element && element.isConnected ? visible(element) : null};
});
"""


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

    def badges(self) -> list[dict]:
        """Every badge on the page (see BADGES)."""
        return self.driver.execute_script(BADGES)

    def shown_badges(self) -> list[dict]:
        return [badge for badge in self.badges() if badge["shows"]]

    def popup_status(self, shop_url: str, unreadable: int, timeout: float = 60) -> str:
        """Opens the popup on the shop's tab, waits until it counts `unreadable` pictures nobody
        could read, and returns its status line (the popup closed again)."""
        shop_window = self.open_popup(shop_url)
        status = self.driver.find_element("id", "status")
        try:
            wait_for(lambda: status.get_attribute("data-unreadable") == str(unreadable), timeout,
                     f"the popup to count {unreadable} unreadable pictures")
            return status.text
        finally:
            self.driver.close()
            self.driver.switch_to.window(shop_window)
