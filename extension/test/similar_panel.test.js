const { test } = require("node:test");
const assert = require("node:assert/strict");
const { JSDOM } = require("jsdom");
require("../lib/dialog.js");
const { SimilarPanel, webUrl } = require("../similar_panel.js");

const ANSWER = {
  query: { category: "dress", colour: { label: "red", probability: 0.9 } },
  results: [
    { page_url: "https://shop.example/p/1", picture_url: "https://cdn.example/1.jpg", shop: "shop.example",
      category: "dress", colour: "red", similarity: 0.97, match: "copy", inliers: 80 },
    { page_url: "javascript:alert(1)", picture_url: "data:x", shop: "bad.example", category: "skirt", colour: "",
      similarity: 0.5, match: "similar", inliers: null },
  ],
};

function page() {
  const dom = new JSDOM("<!doctype html><button id=origin>picture</button>", { pretendToBeVisual: true });
  const origin = dom.window.document.getElementById("origin");
  origin.focus();
  return { dom, doc: dom.window.document, origin };
}

test("the panel lists products with thumbnails, labels, shop and safe links, and closes with Escape", async () => {
  const { dom, doc, origin } = page();
  const asked = [];
  const panel = await SimilarPanel.open(doc, "https://shop.example/pic.jpg", { ask: async (url) => {
    asked.push(url);
    return ANSWER;
  } });
  assert.deepEqual(asked, ["https://shop.example/pic.jpg"]);
  const shadow = doc.querySelector("shoplens-similar").shadowRoot;
  const items = [...shadow.querySelectorAll("li")];
  assert.equal(items.length, 2);
  assert.equal(items[0].querySelector("a").href, "https://shop.example/p/1");
  assert.equal(items[0].querySelector("img").src, "https://cdn.example/1.jpg");
  assert.match(items[0].textContent, /dress · red.*shop\.example · same picture · 97% similar/);
  assert.doesNotMatch(items[1].textContent, /same picture/);
  assert.equal(items[1].querySelector("a"), null); // a script URL is never a link
  assert.equal(items[1].querySelector("img").getAttribute("src"), null);
  assert.match(shadow.querySelector("[role=status]").textContent, /This picture: dress · red — 2 similar products/);
  assert.equal(shadow.activeElement, panel.closeButton);
  panel.panel.dispatchEvent(new dom.window.KeyboardEvent("keydown", { key: "Tab", bubbles: true }));
  assert.equal(shadow.activeElement, items[0].querySelector("a"));
  panel.panel.dispatchEvent(new dom.window.KeyboardEvent("keydown", { key: "Tab", bubbles: true }));
  assert.equal(shadow.activeElement, panel.closeButton); // focus stays in the dialog
  panel.panel.dispatchEvent(new dom.window.KeyboardEvent("keydown", { key: "Escape", bubbles: true }));
  assert.equal(doc.querySelector("shoplens-similar"), null);
  assert.equal(doc.activeElement, origin);
});

test("an error answer says why, and a second panel replaces the first", async () => {
  const { doc } = page();
  await SimilarPanel.open(doc, "a", { ask: async () => ANSWER });
  await SimilarPanel.open(doc, "b", { ask: async () => ({ error: "visual search unavailable: no index" }) });
  const hosts = doc.querySelectorAll("shoplens-similar");
  assert.equal(hosts.length, 1);
  assert.match(hosts[0].shadowRoot.textContent, /No similar products: visual search unavailable: no index/);
  assert.equal(webUrl("ftp://x/y"), null);
});
