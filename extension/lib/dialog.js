// A dialog in its own shadow DOM on the page (the "More like this" panel, the correction form):
// focus moves into it, Tab stays inside, Escape or the close button closes it and gives focus
// back to where it was (inside a shadow root too: the badge that opened it).
(function (root) {
  "use strict";

  const STYLE = `
    :host { all: initial; }
    .panel { position: fixed; top: 0; right: 0; width: 340px; max-width: 100vw; height: 100vh; overflow-y: auto;
             box-sizing: border-box; padding: 12px; background: #fff; color: #111; font: 13px/1.4 system-ui, sans-serif;
             box-shadow: -2px 0 8px rgba(0,0,0,.3); z-index: 2147483647; }
    h2 { font-size: 15px; margin: 0 32px 8px 0; }
    .close { position: absolute; top: 8px; right: 8px; font-size: 18px; background: none; border: 0; cursor: pointer; }
    :focus-visible { outline: 2px solid #115e59; outline-offset: 2px; }
  `;
  const KEPT_INSIDE = ["click", "dblclick", "pointerdown", "pointerup", "mousedown", "mouseup", "keydown", "keyup"];
  const FOCUSABLE = "a[href], button:not([disabled]), select:not([disabled]), input:not([disabled])";

  function element(doc, tag, props = {}, children = []) {
    const node = Object.assign(doc.createElement(tag), props);
    for (const child of children) node.append(child);
    return node;
  }

  /** What happens in ShopLens's shadow root (a dialog, a hover card) stays ShopLens's own: the
   * page's handlers (close a menu on any click, keyboard shortcuts) never see those events. */
  function keepInside(shadowRoot) {
    for (const type of KEPT_INSIDE) shadowRoot.addEventListener(type, (event) => event.stopPropagation());
  }

  /** The element that has focus, looked for inside open shadow roots too. */
  function deepActive(doc) {
    let active = doc.activeElement;
    while (active && active.shadowRoot && active.shadowRoot.activeElement) active = active.shadowRoot.activeElement;
    return active;
  }

  class Dialog {
    /** `tag`: the host element's name; `style`: the dialog's own CSS beside the common one. */
    constructor(doc, tag, title, style = "") {
      this.doc = doc;
      this.host = doc.createElement(tag);
      this.shadow = this.host.attachShadow({ mode: "open" });
      this.shadow.append(element(doc, "style", { textContent: STYLE + style }));
      this.closeButton = element(doc, "button", { className: "close", type: "button", textContent: "×",
        ariaLabel: "Close" });
      this.body = element(doc, "div");
      this.panel = element(doc, "div", { className: "panel", role: "dialog", tabIndex: -1 },
        [element(doc, "h2", { id: `${tag}-title`, textContent: title }), this.closeButton, this.body]);
      this.panel.setAttribute("aria-modal", "true");
      this.panel.setAttribute("aria-labelledby", `${tag}-title`);
      this.shadow.append(this.panel);
      this.closeButton.addEventListener("click", () => this.close());
      this.panel.addEventListener("keydown", (event) => this.onKey(event));
      keepInside(this.shadow);
      this.closed = new Promise((resolve) => { this.settle = resolve; }); // resolved once it closes
    }

    /** Puts the dialog on the page and moves focus into it (`returnFocus`: where it goes back). */
    attach(returnFocus = deepActive(this.doc)) {
      this.returnFocus = returnFocus;
      this.doc.documentElement.append(this.host);
      this.closeButton.focus();
    }

    focusable() {
      return [this.closeButton, ...this.body.querySelectorAll(FOCUSABLE)];
    }

    onKey(event) {
      if (event.key === "Escape") {
        event.preventDefault();
        this.close();
      } else if (event.key === "Tab") { // focus stays in the dialog
        const items = this.focusable();
        const at = items.indexOf(this.shadow.activeElement);
        const next = (at + (event.shiftKey ? -1 : 1) + items.length) % items.length;
        event.preventDefault();
        items[next].focus();
      }
    }

    /** Shows `dialog` as the page's one ShopLens dialog (closing the one open before). */
    static replace(dialog) {
      if (Dialog.current) Dialog.current.close();
      Dialog.current = dialog;
      return dialog;
    }

    close() {
      this.host.remove();
      if (Dialog.current === this) Dialog.current = null;
      if (this.returnFocus && this.returnFocus.isConnected && this.returnFocus.focus) this.returnFocus.focus();
      this.settle();
    }
  }

  const api = { Dialog, element, deepActive, keepInside };
  root.ShopLens = Object.assign(root.ShopLens || {}, { dialog: api });
  if (typeof module !== "undefined") module.exports = api;
})(globalThis);
