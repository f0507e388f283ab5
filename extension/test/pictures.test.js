// Picture finding and product cards, under jsdom (which has no layout: sizes are given per element).
const { test } = require("node:test");
const assert = require("node:assert/strict");
const { JSDOM } = require("jsdom");
const Pictures = require("../lib/pictures.js");

function page(html) {
  const dom = new JSDOM(`<!doctype html><body>${html}</body>`, { url: "https://shop.example/c/dresses" });
  const doc = dom.window.document;
  for (const img of doc.querySelectorAll("img")) {
    const [width, height] = (img.dataset.size || "0x0").split("x").map(Number);
    img.getBoundingClientRect = () => ({ width, height, top: 0, left: 0, right: width, bottom: height });
  }
  return doc;
}

const ids = (imgs) => imgs.map((img) => img.id);

test("product pictures are found; icons, logos, sprites, pixels and hidden pictures are not", () => {
  const doc = page(`
    <header><img id="logo" src="/static/logo.png" data-size="120x40"></header>
    <img id="cart" src="/static/cart.png" data-size="24x24">
    <img id="pixel" src="https://track.example/p.gif" data-size="1x1">
    <img id="sprite" src="/static/strip.png" data-size="600x40">
    <img id="svg" src="/static/shape.svg" data-size="200x200">
    <img id="inline" src="data:image/png;base64,AAAA" data-size="200x200">
    <img id="hidden" src="/img/h.jpg" data-size="120x160" style="display:none">
    <div style="visibility:hidden"><img id="hidden-parent" src="/img/hp.jpg" data-size="120x160"></div>
    <img id="classed-icon" class="nav-icon" src="/img/x.jpg" data-size="120x160">
    <img id="dress" src="/img/dress.jpg" data-size="120x160">
    <img id="shirt" src="/img/shirt.jpg" data-size="300x300">
  `);
  assert.deepEqual(ids(Pictures.findPictures(doc)), ["dress", "shirt"]);
});

test("a logo-print product keeps its picture: only the path and class are checked, not the alt text", () => {
  const doc = page(`<img id="tee" alt="Logo print T-shirt" src="/img/logo-print-tee.jpg" data-size="120x160">`);
  assert.deepEqual(ids(Pictures.findPictures(doc)), []); // the path says logo: conservative by design
  const other = page(`<img id="tee" alt="Logo print T-shirt" src="/img/tee-42.jpg" data-size="120x160">`);
  assert.deepEqual(ids(Pictures.findPictures(other)), ["tee"]);
});

test("the best source: from srcset and <picture>, the narrowest at least 320 wide, else the widest", () => {
  const doc = page(`
    <img id="a" src="/s.jpg" srcset="/a-160.jpg 160w, /a-480.jpg 480w, /a-1200.jpg 1200w" data-size="120x160">
    <img id="b" src="/s.jpg" srcset="/b-1x.jpg 1x, /b-2x.jpg 2x" data-size="120x160">
    <picture><source srcset="/c-200.webp 200w, /c-400.webp 400w" type="image/webp">
      <img id="c" src="/c.jpg" data-size="120x160"></picture>
    <img id="d" src="small.jpg" srcset="/d-100.jpg 100w, /d-200.jpg 200w" data-size="120x160">
    <img id="e" src="plain.jpg" data-size="120x160">
  `);
  const source = (id) => Pictures.bestSource(doc.getElementById(id));
  assert.equal(source("a"), "https://shop.example/a-480.jpg");
  assert.equal(source("b"), "https://shop.example/b-1x.jpg");
  assert.equal(source("c"), "https://shop.example/c-400.webp");
  assert.equal(source("d"), "https://shop.example/d-200.jpg");
  assert.equal(source("e"), "https://shop.example/c/plain.jpg");
});

test("srcset parsing keeps URLs with commas inside and reads w and x descriptors", () => {
  assert.deepEqual(Pictures.parseSrcset("/a.jpg?w=1,2 480w, /b.jpg 2x"),
    [{ url: "/a.jpg?w=1,2", width: 480 }, { url: "/b.jpg", width: 2000 }]);
  assert.deepEqual(Pictures.parseSrcset(""), []);
});

test("the product card is the largest ancestor holding no other product picture", () => {
  const doc = page(`
    <div class="grid" id="grid">
      <div class="card" id="card1"><a href="/p/1"><span><img id="one" src="/img/1.jpg" data-size="120x160"></span></a><p>Dress</p></div>
      <div class="card" id="card2"><a href="/p/2"><img id="two" src="/img/2.jpg" data-size="120x160"></a>
        <img id="swatch" src="/static/icon-red.png" data-size="16x16"></div>
    </div>`);
  const pictures = Pictures.findPictures(doc);
  assert.equal(Pictures.productCard(doc.getElementById("one"), pictures).id, "card1");
  assert.equal(Pictures.productCard(doc.getElementById("two"), pictures).id, "card2");
});

test("a picture alone on the page climbs to just under <body>", () => {
  const doc = page(`<main id="main"><div><img id="only" src="/img/1.jpg" data-size="120x160"></div></main>`);
  assert.equal(Pictures.productCard(doc.getElementById("only"), Pictures.findPictures(doc)).id, "main");
});
