// The badges: one overlay layer on top of the page, holding a small label per picture.
// The layer takes no space and no clicks (pointer-events: none), so the page's layout and
// links stay as they were; removing the layer removes every trace. A badge shows only
// while its picture is in view: not clipped away by a scrolling or carousel parent, not
// covered by something outside its product card. Hovered or focused, a badge opens into its
// hover card: the top three, and the buttons "More like this" and "Wrong label?" (the only
// parts of the layer that take clicks). Badges are in the keyboard's Tab order, in page order.
(function (root) {
  "use strict";

  const { labels: Labels, pictures: Pictures } = root.ShopLens;
  const STYLE = `
    :host { all: initial; }
    .badge { position: absolute; max-width: 220px; padding: 2px 6px; border-radius: 4px; font: 600 11px/1.4 system-ui, sans-serif;
             color: #fff; background: rgba(17, 94, 89, 0.92); white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
             box-shadow: 0 1px 2px rgba(0,0,0,.3); }
    .badge.low { background: rgba(120, 120, 120, 0.9); font-style: italic; }
    .badge.low::before { content: "? "; }
    .badge ol { display: none; margin: 2px 0 0; padding-left: 16px; font-weight: 400; }
    .badge.expanded ol { display: block; }
    .badge.expanded, .badge:focus-within, .badge.held { white-space: normal; }
    .badge:focus-within ol, .badge.held ol { display: block; }
    .badge.corrected { background: rgba(91, 33, 182, 0.92); }
    .badge.corrected::before { content: "✎ "; }
    .actions { display: none; gap: 4px; margin-top: 4px; }
    .badge.expanded .actions, .badge:focus-within .actions, .badge.held .actions { display: flex; }
    .actions button { pointer-events: auto; cursor: pointer; font: 600 11px/1.4 system-ui, sans-serif; color: #115e59;
                      background: #fff; border: 0; border-radius: 3px; padding: 1px 6px; }
    .badge:focus-visible, .actions button:focus-visible { outline: 2px solid #fbbf24; outline-offset: 1px; }
  `;
  const ACTIONS = { similar: "More like this", correct: "Wrong label?" };

  const MIN_VISIBLE = 0.5; // a badge shows while at least this share of its picture is in view

  /** The part of `rect` left after clipping by the ancestors of `element` that clip
   * (overflow other than visible); null when nothing is left. */
  function visibleRect(element, rect) {
    const view = element.ownerDocument.defaultView;
    let { left, top, right, bottom } = rect;
    for (let node = Pictures.composedParent(element); node && node.nodeType === 1; node = Pictures.composedParent(node)) {
      const style = view.getComputedStyle(node);
      if (style.overflowX === "visible" && style.overflowY === "visible") continue;
      const clip = node.getBoundingClientRect();
      if (style.overflowX !== "visible") [left, right] = [Math.max(left, clip.left), Math.min(right, clip.right)];
      if (style.overflowY !== "visible") [top, bottom] = [Math.max(top, clip.top), Math.min(bottom, clip.bottom)];
    }
    return right > left && bottom > top ? { left, top, right, bottom } : null;
  }

  /** `element.matches(selector)`, false where the browser does not know the selector. */
  function matches(element, selector) {
    try {
      return element.matches(selector);
    } catch (error) {
      return false;
    }
  }

  class BadgeLayer {
    /** `actions`: {similar, correct}, each called (picture element, the button) from the hover card,
     * returning a promise settled when what it opened is closed. */
    constructor(doc, actions = {}) {
      this.doc = doc;
      this.actions = actions;
      this.panes = new Map(); // modal dialog or open popover -> the pane painted in it
      ({ host: this.host, shadow: this.shadow } = this.newPane(doc.documentElement, "absolute"));
      this.badges = new Map(); // picture element -> badge element
      this.expanded = null;
      this.counter = 0;
    }

    /** A host for badges in `container`, its shadow root holding them: the page's own layer
     * (absolute, at the document's origin), or one inside a modal dialog or popover (fixed),
     * since the top layer paints over everything outside it. */
    newPane(container, position) {
      const host = this.doc.createElement("shoplens-badges");
      host.style.cssText = `position:${position};top:0;left:0;width:0;height:0;overflow:visible;`
        + "z-index:2147483647;pointer-events:none;margin:0;padding:0;border:0;";
      const shadow = host.attachShadow({ mode: "open" });
      const style = this.doc.createElement("style");
      style.textContent = STYLE;
      shadow.appendChild(style);
      container.appendChild(host);
      shadow.addEventListener("click", (event) => {
        const button = event.target.closest("button[data-action]");
        const element = button && this.pictureOf(button.closest(".badge"));
        if (!element || !this.actions[button.dataset.action]) return;
        // its card stays open while the dialog it opened is: focus comes back to the button
        const badge = this.badges.get(element);
        badge.classList.add("held");
        Promise.resolve(this.actions[button.dataset.action](element, button)).finally(() => badge.classList.remove("held"));
      });
      root.ShopLens.dialog.keepInside(shadow);
      const placeOwner = (event) => {
        const element = this.pictureOf(event.target.closest && event.target.closest(".badge"));
        if (element) this.place(element); // focused, its card opens: placed again (a bottom badge grows upwards)
      };
      shadow.addEventListener("focusin", placeOwner);
      shadow.addEventListener("focusout", placeOwner);
      return { host, shadow };
    }

    /** The pane the badge of `element` belongs in: that of the innermost modal dialog or open
     * popover holding it, else the page's. */
    paneFor(element) {
      let top = null;
      for (let node = Pictures.composedParent(element); node && node.nodeType === 1 && !top;
        node = Pictures.composedParent(node)) {
        if ((node.tagName === "DIALOG" && matches(node, ":modal")) || matches(node, ":popover-open")) top = node;
      }
      if (!top) return { host: this.host, shadow: this.shadow };
      if (!this.panes.has(top) || !top.contains(this.panes.get(top).host)) this.panes.set(top, this.newPane(top, "fixed"));
      return this.panes.get(top);
    }

    isHost(node) {
      return node === this.host || [...this.panes.values()].some((pane) => pane.host === node);
    }

    pictureOf(badge) {
      for (const [element, candidate] of this.badges) if (candidate === badge) return element;
      return null;
    }

    /** Puts a badge among the others of its pane in its picture's page order (the keyboard's Tab order). */
    insert(element, badge, pane = this.paneFor(element)) {
      const follows = (other) => element.compareDocumentPosition(other) & element.DOCUMENT_POSITION_FOLLOWING;
      const next = [...this.badges].find(([other, candidate]) => other !== element && follows(other)
        && candidate.getRootNode() === pane.shadow);
      pane.shadow.insertBefore(badge, next ? next[1] : null);
    }

    /** A new badge: its text, the top three and the hover card's buttons. */
    create(element) {
      const badge = this.doc.createElement("div");
      badge.className = "badge";
      badge.tabIndex = 0;
      badge.setAttribute("role", "group");
      const actions = this.doc.createElement("div");
      actions.className = "actions";
      for (const [action, text] of Object.entries(ACTIONS)) {
        const button = this.doc.createElement("button");
        Object.assign(button, { type: "button", textContent: text });
        button.dataset.action = action;
        actions.appendChild(button);
      }
      badge.append(this.doc.createTextNode(""), this.doc.createElement("ol"), actions);
      this.counter += 1;
      element.dataset.shoplensId = badge.dataset.for = String(this.counter);
      this.insert(element, badge);
      this.badges.set(element, badge);
      return badge;
    }

    /** Shows (or updates) the badge of `element` for `answer`; an updated badge keeps its buttons
     * (one may have the focus, or get it back when the dialog it opened closes). */
    show(element, answer, settings) {
      const badge = this.badges.get(element) || this.create(element);
      badge.firstChild.nodeValue = Labels.badgeText(answer);
      badge.setAttribute("aria-label", `ShopLens: ${Labels.badgeText(answer)}`);
      badge.classList.toggle("corrected", Boolean(answer.corrected));
      badge.querySelector("ol").replaceChildren(...Labels.topThree(answer).map((line) => {
        const item = this.doc.createElement("li");
        item.textContent = line;
        return item;
      }));
      const low = Labels.isLowConfidence(answer, settings.threshold);
      badge.classList.toggle("low", low);
      badge.dataset.position = settings.badgePosition;
      Object.assign(element.dataset, { shoplensLabel: Labels.badgeText(answer), shoplensCategory: answer.category,
        shoplensColour: answer.colour ? answer.colour.label : "", shoplensLow: String(low) });
      this.place(element);
    }

    /** Whether something outside the picture's card lies on top of the middle of `shown`. */
    covered(element, badge, shown) {
      const view = this.doc.defaultView;
      const x = (shown.left + shown.right) / 2;
      const y = (shown.top + shown.bottom) / 2;
      if (x < 0 || y < 0 || x >= view.innerWidth || y >= view.innerHeight) return false; // off screen: cannot tell
      const hit = this.doc.elementFromPoint(x, y);
      if (this.isHost(hit)) return false; // a hover card's button: ShopLens's own
      return Boolean(hit) && !Pictures.contains(badge.card || element, hit) && !Pictures.contains(hit, element);
    }

    place(element) {
      const badge = this.badges.get(element);
      if (!badge) return;
      const pane = element.isConnected && this.paneFor(element);
      if (pane && badge.getRootNode() !== pane.shadow) this.insert(element, badge, pane); // a dialog opened or closed
      const rect = element.isConnected ? element.getBoundingClientRect() : null;
      const shown = rect && rect.width > 0 && visibleRect(element, rect);
      const area = (r) => (r.right - r.left) * (r.bottom - r.top);
      if (!shown || area(shown) < MIN_VISIBLE * area(rect) || this.covered(element, badge, shown)) {
        badge.style.display = "none";
        return;
      }
      const [vertical, horizontal] = (badge.dataset.position || "top-left").split("-");
      badge.style.display = "block";
      badge.style.maxWidth = `${Math.max(60, shown.right - shown.left - 8)}px`;
      const top = vertical === "top" ? shown.top + 4 : shown.bottom - badge.offsetHeight - 4;
      const left = horizontal === "left" ? shown.left + 4 : shown.right - badge.offsetWidth - 4;
      const origin = pane.host.getBoundingClientRect(); // the page's origin as scrolled, or a dialog's
      badge.style.top = `${top - origin.top}px`;
      badge.style.left = `${left - origin.left}px`;
    }

    /** The product card of `element`: what lies on top of its picture inside it (the card's
     * link stretched over the picture) does not cover it. */
    setCard(element, card) {
      const badge = this.badges.get(element);
      if (badge) badge.card = card;
    }

    placeAll() {
      for (const element of this.badges.keys()) this.place(element);
    }

    /** Expands the badge of the picture under the pointer (x, y in the viewport), whatever
     * lies on top of it (a card's link overlay), or of the hover card under it (its buttons may
     * reach past a small picture), and folds the one expanded before. */
    pointAt(x, y) {
      const inside = (rect) => x >= rect.left && x < rect.right && y >= rect.top && y < rect.bottom;
      let under = null;
      for (const [element, badge] of this.badges) {
        if (badge.style.display === "none") continue;
        if (inside(element.getBoundingClientRect())) under = element;
      }
      const open = this.expanded && this.badges.get(this.expanded);
      if (open && open.style.display !== "none" && inside(open.getBoundingClientRect())) under = this.expanded;
      if (under === this.expanded) return;
      for (const element of [this.expanded, under]) {
        const badge = element && this.badges.get(element);
        if (!badge) continue;
        badge.classList.toggle("expanded", element === under);
        this.place(element);
      }
      this.expanded = under;
    }

    has(element) {
      return this.badges.has(element);
    }

    /** Takes the badge of `element` away, and its marks. */
    remove(element) {
      const badge = this.badges.get(element);
      if (badge) badge.remove();
      this.badges.delete(element);
      if (this.expanded === element) this.expanded = null;
      for (const key of ["shoplensId", "shoplensLabel", "shoplensCategory", "shoplensColour", "shoplensLow"]) {
        delete element.dataset[key];
      }
    }

    destroy() {
      for (const element of [...this.badges.keys()]) this.remove(element);
      this.host.remove();
      for (const pane of this.panes.values()) pane.host.remove();
      this.panes.clear();
    }
  }

  root.ShopLens = Object.assign(root.ShopLens || {}, { BadgeLayer });
})(globalThis);
