// Picture finding, sources and product cards, under jsdom (which has no layout and loads no
// pictures: each <img> gets its on-screen size from data-size, its own size from
// data-natural, and what the browser chose from data-current).
const { test } = require("node:test");
const assert = require("node:assert/strict");
const { JSDOM } = require("jsdom");
const Pictures = require("../lib/pictures.js");

function page(html) {
  const dom = new JSDOM(`<!doctype html><body>${html}</body>`, { url: "https://shop.example/c/dresses" });
  const doc = dom.window.document;
  for (const img of Pictures.allImages(doc)) laidOut(img);
  return doc;
}

function laidOut(img) {
  const [width, height] = (img.dataset.size || "0x0").split("x").map(Number);
  const [naturalWidth, naturalHeight] = (img.dataset.natural || "600x800").split("x").map(Number);
  img.getBoundingClientRect = () => ({ width, height, top: 0, left: 0, right: width, bottom: height });
  const current = img.dataset.current ? new URL(img.dataset.current, img.ownerDocument.baseURI).href : img.src;
  Object.defineProperties(img, { naturalWidth: { value: naturalWidth }, naturalHeight: { value: naturalHeight },
    complete: { value: true }, currentSrc: { value: current } });
}

const ids = (imgs) => imgs.map((img) => img.id);

test("product pictures are found; icons, logos, sprites, pixels, placeholders and hidden pictures are not", () => {
  const doc = page(`
    <header><img id="logo" src="/static/logo.png" data-size="120x40"></header>
    <img id="cart" src="/static/cart.png" data-size="24x24">
    <img id="pixel" src="https://track.example/p.gif" data-size="1x1">
    <img id="sprite" src="/static/strip.png" data-size="600x40">
    <img id="svg" src="/static/shape.svg" data-size="200x200">
    <img id="inline" src="data:image/png;base64,AAAA" data-size="200x200">
    <img id="stretched-gif" src="/img/blank.gif" data-size="200x260" data-natural="1x1">
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

test("a picture still loading shows nothing yet; a data: placeholder is never a source", () => {
  const doc = page(`<img id="lazy" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" data-size="200x260">`);
  assert.equal(Pictures.shownSource(doc.getElementById("lazy")), null);
  const loading = doc.createElement("img");
  loading.src = "/img/late.jpg";
  assert.equal(Pictures.shownSource(loading), null); // not complete, no natural size
});

test("the source sent: what the browser shows, or a lighter candidate of the same srcset at least 320 wide", () => {
  const doc = page(`
    <img id="a" src="/s.jpg" srcset="/a-160.jpg 160w, /a-480.jpg 480w, /a-1200.jpg 1200w" data-current="/a-1200.jpg" data-size="120x160">
    <img id="dawn" src="//cdn.example/f/b.jpg?width=533" data-current="//cdn.example/f/b.jpg?width=720" data-size="120x160"
      srcset="//cdn.example/f/b.jpg?width=165 165w,//cdn.example/f/b.jpg?width=360 360w,//cdn.example/f/b.jpg?width=720 720w">
    <img id="small" src="/s.jpg" srcset="/d-100.jpg 100w, /d-200.jpg 200w" data-current="/d-200.jpg" data-size="120x160">
    <img id="x" src="/s.jpg" srcset="/x-1x.jpg 1x, /x-2x.jpg 2x" data-current="/x-2x.jpg" data-size="120x160">
    <picture><source type="image/avif" srcset="/c-400.avif 400w,/c-800.avif 800w">
      <source type="image/webp" srcset="/c-400.webp 400w, /c-800.webp 800w">
      <img id="c" src="/c.jpg" data-current="/c-800.avif" data-size="120x160"></picture>
    <img id="plain" src="plain.jpg" data-size="120x160">
  `);
  const source = (id) => Pictures.sourceToSend(doc.getElementById(id));
  assert.equal(source("a"), "https://shop.example/a-480.jpg");
  assert.equal(source("dawn"), "https://cdn.example/f/b.jpg?width=360"); // never the 165-px thumbnail
  assert.equal(source("small"), "https://shop.example/d-200.jpg"); // nothing lighter is wide enough
  assert.equal(source("x"), "https://shop.example/x-1x.jpg"); // the 1x density of the same picture
  assert.equal(source("c"), "https://shop.example/c-400.avif"); // the format the browser chose
  assert.equal(source("plain"), "https://shop.example/c/plain.jpg");
});

test("srcset parsing follows the HTML spec: commas without spaces, commas inside URLs, descriptors", () => {
  assert.deepEqual(Pictures.parseSrcset("a.jpg 165w,b.jpg 360w"), [{ url: "a.jpg", width: 165 }, { url: "b.jpg", width: 360 }]);
  assert.deepEqual(Pictures.parseSrcset("/a.jpg?w=1,2 480w, /b.jpg 2x"),
    [{ url: "/a.jpg?w=1,2", width: 480 }, { url: "/b.jpg", width: 2000 }]);
  assert.deepEqual(Pictures.parseSrcset(" /one.jpg, /two.jpg 1.5x,\n/three.jpg  640w  , "),
    [{ url: "/one.jpg", width: 1000 }, { url: "/two.jpg", width: 1500 }, { url: "/three.jpg", width: 640 }]);
  assert.deepEqual(Pictures.parseSrcset("/f(1).jpg 300w"), [{ url: "/f(1).jpg", width: 300 }]);
  assert.deepEqual(Pictures.parseSrcset(""), []);
});

test("background pictures: the first url() of the computed background-image", () => {
  const doc = page(`<div id="tile" style="background-image: url('/img/tile.jpg'), linear-gradient(red, blue)"></div>
    <div id="plain" style="background: red"></div>`);
  assert.equal(Pictures.backgroundUrl(doc.getElementById("tile")), "https://shop.example/img/tile.jpg");
  assert.equal(Pictures.backgroundUrl(doc.getElementById("plain")), null);
  assert.deepEqual(ids(Pictures.backgroundElements(doc)), ["tile"]);
});

test("pictures inside open shadow roots are found, and their card climbs out of the shadow", () => {
  const doc = page(`<div class="grid"><div class="card" id="card1"><product-card id="host"></product-card></div>
    <div class="card" id="card2"><img id="two" src="/img/2.jpg" data-size="120x160"></div></div>`);
  const shadow = doc.getElementById("host").attachShadow({ mode: "open" });
  shadow.innerHTML = `<a href="/p/1"><img id="inner" src="/img/1.jpg" data-size="120x160"></a>`;
  laidOut(shadow.getElementById("inner"));
  const pictures = Pictures.findPictures(doc);
  assert.deepEqual(ids(pictures), ["two", "inner"]);
  assert.equal(Pictures.productCard(shadow.getElementById("inner"), pictures).id, "card1");
  assert.deepEqual(Pictures.shadowRoots(doc), [shadow]);
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
