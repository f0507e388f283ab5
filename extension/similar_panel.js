// "More like this": a panel listing the catalogue's products that look like a picture
// (thumbnail, labels, shop, similarity, link), asked through the service worker as every other
// call. A dialog (lib/dialog.js), opened from a badge's hover card or the context menu.
(function (root) {
  "use strict";

  const { Dialog, element } = root.ShopLens.dialog;
  const STYLE = `
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
    // the API marks the catalogue's own copies of this very picture (cropped, resized, mirrored...)
    const copy = product.match === "copy" ? "same picture · " : "";
    const meta = element(doc, "div", { className: "meta",
      textContent: `${product.shop || "unknown shop"} · ${copy}${Math.round(product.similarity * 100)}% similar` });
    return element(doc, "li", {}, [thumb, element(doc, "div", {}, [name, meta])]);
  }

  class SimilarPanel extends Dialog {
    constructor(doc, ask) {
      super(doc, "shoplens-similar", "More like this", STYLE);
      this.ask = ask;
      this.status = element(doc, "p", { role: "status" });
      this.list = element(doc, "ol", { ariaLabel: "Similar products" });
      this.body.append(this.status, this.list);
    }

    /** Shows the panel for the picture at `url` and fills it with the answer. */
    async show(url, returnFocus) {
      this.attach(returnFocus);
      this.status.textContent = "Looking for similar products…";
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

    /** Opens the page's one panel for the picture at `url`, asking the service worker; focus goes
     * back to `returnFocus` (default: what has it now) when it closes. */
    static open(doc, url, { returnFocus, ask = (pictureUrl) => chrome.runtime.sendMessage({ type: "similar",
      url: pictureUrl }) } = {}) {
      const panel = Dialog.replace(new SimilarPanel(doc, ask));
      return panel.show(url, returnFocus).then(() => panel);
    }
  }

  root.ShopLens = Object.assign(root.ShopLens || {}, { SimilarPanel });
  if (typeof module !== "undefined") module.exports = { SimilarPanel, webUrl };
})(globalThis);
