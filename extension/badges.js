// The badges: one overlay layer on top of the page, holding a small label per picture.
// The layer takes no space and no clicks (pointer-events: none), so the page's layout and
// links stay as they were; removing the layer removes every trace.
(function (root) {
  "use strict";

  const { labels: Labels } = root.ShopLens;
  const STYLE = `
    :host { all: initial; }
    .badge { position: absolute; max-width: 220px; padding: 2px 6px; border-radius: 4px; font: 600 11px/1.4 system-ui, sans-serif;
             color: #fff; background: rgba(17, 94, 89, 0.92); white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
             box-shadow: 0 1px 2px rgba(0,0,0,.3); }
    .badge.low { background: rgba(120, 120, 120, 0.9); font-style: italic; }
    .badge.low::before { content: "? "; }
    .badge ol { display: none; margin: 2px 0 0; padding-left: 16px; font-weight: 400; }
    .badge.expanded ol { display: block; }
    .badge.expanded { white-space: normal; }
  `;

  class BadgeLayer {
    constructor(doc) {
      this.doc = doc;
      this.host = doc.createElement("shoplens-badges");
      this.host.style.cssText = "position:absolute;top:0;left:0;width:0;height:0;overflow:visible;"
        + "z-index:2147483647;pointer-events:none;";
      this.shadow = this.host.attachShadow({ mode: "open" });
      const style = doc.createElement("style");
      style.textContent = STYLE;
      this.shadow.appendChild(style);
      doc.documentElement.appendChild(this.host);
      this.badges = new Map(); // img -> badge element
    }

    /** Shows (or updates) the badge of `img` for `answer`. */
    show(img, answer, settings) {
      let badge = this.badges.get(img);
      if (!badge) {
        badge = this.doc.createElement("div");
        badge.className = "badge";
        this.shadow.appendChild(badge);
        this.badges.set(img, badge);
      }
      badge.textContent = Labels.badgeText(answer);
      const list = this.doc.createElement("ol");
      for (const line of Labels.topThree(answer)) {
        const item = this.doc.createElement("li");
        item.textContent = line;
        list.appendChild(item);
      }
      badge.appendChild(list);
      const low = Labels.isLowConfidence(answer, settings.threshold);
      badge.classList.toggle("low", low);
      badge.dataset.position = settings.badgePosition;
      Object.assign(img.dataset, { shoplensLabel: Labels.badgeText(answer), shoplensCategory: answer.category,
        shoplensColour: answer.colour ? answer.colour.label : "", shoplensLow: String(low) });
      this.place(img);
    }

    place(img) {
      const badge = this.badges.get(img);
      const rect = img.getBoundingClientRect();
      if (!img.isConnected || rect.width === 0) {
        badge.style.display = "none";
        return;
      }
      const view = this.doc.defaultView;
      const [vertical, horizontal] = (badge.dataset.position || "top-left").split("-");
      badge.style.display = "block";
      badge.style.maxWidth = `${Math.max(60, rect.width - 8)}px`;
      const top = vertical === "top" ? rect.top + 4 : rect.bottom - badge.offsetHeight - 4;
      const left = horizontal === "left" ? rect.left + 4 : rect.right - badge.offsetWidth - 4;
      badge.style.top = `${top + view.scrollY}px`;
      badge.style.left = `${left + view.scrollX}px`;
    }

    placeAll() {
      for (const img of this.badges.keys()) this.place(img);
    }

    expand(img, expanded) {
      const badge = this.badges.get(img);
      if (!badge) return;
      badge.classList.toggle("expanded", expanded);
      this.place(img);
    }

    has(img) {
      return this.badges.has(img);
    }

    destroy() {
      for (const img of this.badges.keys()) {
        for (const key of ["shoplensLabel", "shoplensCategory", "shoplensColour", "shoplensLow"]) delete img.dataset[key];
      }
      this.badges.clear();
      this.host.remove();
    }
  }

  root.ShopLens = Object.assign(root.ShopLens || {}, { BadgeLayer });
})(globalThis);
