// "More like this": a panel in its own shadow DOM listing the catalogue's products that look
// like a picture (thumbnail, labels, shop, similarity, link), asked through the service worker
// as every other call. A dialog: focus moves into it, Tab stays inside, Escape or the close
// button closes it and gives focus back.
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
    ol { list-style: none; margin: 0; padding: 0; }
    li { display: flex; gap: 8px; padding: 6px 0; border-top: 1px solid #ddd; }
    img { width: 64px; height: 80px; object-fit: cover; flex: none; background: #eee; }
    .meta { color: #555; }
  `;

  /** The URL when it is a web address, else null (a page URL from the API never runs as script). */
  function webUrl(text) {
    try {
      const url = new URL(text);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (error) {
      return null;
    }
  }

  function element(doc, tag, props = {}, children = []) {
    const node = Object.assign(doc.createElement(tag), props);
    for (const child of children) node.append(child);
    return node;
  }

  function queryLine(query) {
    if (!query || !query.category) return "";
    return `This picture: ${query.category}${query.colour ? ` · ${query.colour.label}` : ""}`;
  }

  function productItem(doc, product) {
    const link = webUrl(product.page_url);
    const title = `${product.category}${product.colour ? ` · ${product.colour}` : ""}`;
    const thumb = element(doc, "img", { alt: title, loading: "lazy", referrerPolicy: "no-referrer" });
    const picture = webUrl(product.picture_url);
    if (picture) thumb.src = picture;
    const name = link ? element(doc, "a", { href: link, target: "_blank", rel: "noopener noreferrer", textContent: title })
      : element(doc, "span", { textContent: title });
    const meta = element(doc, "div", { className: "meta",
      textContent: `${product.shop || "unknown shop"} · ${Math.round(product.similarity * 100)}% similar` });
    return element(doc, "li", {}, [thumb, element(doc, "div", {}, [name, meta])]);
  }

  class SimilarPanel {
    constructor(doc, ask) {
      this.doc = doc;
      this.ask = ask;
      this.host = doc.createElement("shoplens-similar");
      this.shadow = this.host.attachShadow({ mode: "open" });
      this.shadow.append(element(doc, "style", { textContent: STYLE }));
      this.status = element(doc, "p", { role: "status" });
      this.list = element(doc, "ol", { ariaLabel: "Similar products" });
      this.closeButton = element(doc, "button", { className: "close", type: "button", textContent: "×",
        ariaLabel: "Close" });
      this.panel = element(doc, "div", { className: "panel", role: "dialog", tabIndex: -1 },
        [element(doc, "h2", { id: "shoplens-similar-title", textContent: "More like this" }), this.closeButton,
          this.status, this.list]);
      this.panel.setAttribute("aria-modal", "true");
      this.panel.setAttribute("aria-labelledby", "shoplens-similar-title");
      this.shadow.append(this.panel);
      this.closeButton.addEventListener("click", () => this.close());
      this.panel.addEventListener("keydown", (event) => this.onKey(event));
    }

    /** Shows the panel for the picture at `url` and fills it with the answer. */
    async show(url) {
      this.returnFocus = this.doc.activeElement;
      this.doc.documentElement.append(this.host);
      this.status.textContent = "Looking for similar products…";
      this.closeButton.focus();
      this.render(await this.ask(url));
    }

    render(answer) {
      this.list.replaceChildren();
      if (!answer || answer.error) {
        this.status.textContent = `No similar products: ${answer ? answer.error : "no answer"}`;
        return;
      }
      const found = answer.results || [];
      this.status.textContent = [queryLine(answer.query), `${found.length} similar products`].filter(Boolean).join(" — ");
      for (const product of found) this.list.append(productItem(this.doc, product));
    }

    focusable() {
      return [this.closeButton, ...this.list.querySelectorAll("a")];
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

    close() {
      this.host.remove();
      if (SimilarPanel.current === this) SimilarPanel.current = null;
      if (this.returnFocus && this.returnFocus.focus) this.returnFocus.focus();
    }

    /** Opens the one panel of the page (replacing an open one), asking the service worker. */
    static open(doc, url, ask = (pictureUrl) => chrome.runtime.sendMessage({ type: "similar", url: pictureUrl })) {
      if (SimilarPanel.current) SimilarPanel.current.close();
      SimilarPanel.current = new SimilarPanel(doc, ask);
      return SimilarPanel.current.show(url).then(() => SimilarPanel.current);
    }
  }

  root.ShopLens = Object.assign(root.ShopLens || {}, { SimilarPanel });
  if (typeof module !== "undefined") module.exports = { SimilarPanel, webUrl };
})(globalThis);
