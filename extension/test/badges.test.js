// The hover card's buttons under jsdom (no layout: badges are placed but hidden; what is
// checked here is the card's content, its keyboard order and where its clicks go).
const { test } = require("node:test");
const assert = require("node:assert/strict");
const { JSDOM } = require("jsdom");

const dom = new JSDOM("<!doctype html><body><a href=/p/1><img id=one></a><a href=/p/2><img id=two></a>",
  { url: "https://shop.example/" });
Object.assign(globalThis, { window: dom.window, Node: dom.window.Node });
require("../lib/pictures.js");
require("../lib/labels.js");
require("../lib/dialog.js");
require("../badges.js");
const { BadgeLayer } = globalThis.ShopLens;

const ANSWER = { category: "dress", colour: { label: "red", probability: 0.8 },
  labels: [{ label: "dress", probability: 0.87 }, { label: "skirt", probability: 0.1 }] };
const SETTINGS = { threshold: 0.5, badgePosition: "top-left" };

test("each badge is a focusable card, in page order, whose buttons call their action; the page never sees the click", () => {
  const doc = dom.window.document;
  const called = [];
  const pageClicks = [];
  doc.addEventListener("click", (event) => pageClicks.push(event.target));
  const layer = new BadgeLayer(doc, { similar: (element, button) => called.push(["similar", element.id, button]),
    correct: (element, button) => called.push(["correct", element.id, button]) });
  const [one, two] = [doc.getElementById("one"), doc.getElementById("two")];
  layer.show(two, ANSWER, SETTINGS); // the second picture is labelled first
  layer.show(one, { ...ANSWER, corrected: true }, SETTINGS);
  const badges = [...layer.shadow.querySelectorAll(".badge")];
  assert.deepEqual(badges.map((badge) => badge.dataset.for), [one.dataset.shoplensId, two.dataset.shoplensId]);
  assert.deepEqual(badges.map((badge) => badge.tabIndex), [0, 0]);
  assert.equal(badges[1].getAttribute("aria-label"), "ShopLens: dress · red · 87%");
  assert.equal(badges[0].classList.contains("corrected"), true);
  const buttons = [...badges[1].querySelectorAll("button")];
  assert.deepEqual(buttons.map((button) => button.textContent), ["More like this", "Wrong label?"]);
  layer.show(two, { ...ANSWER, category: "skirt" }, SETTINGS); // updated: the same buttons, the new text
  assert.equal(badges[1].firstChild.nodeValue, "skirt · red · 87%");
  assert.deepEqual([...badges[1].querySelectorAll("button")], buttons);
  assert.equal(badges[1].querySelectorAll("li").length, 2);
  buttons[0].click();
  badges[0].querySelectorAll("button")[1].click();
  assert.deepEqual(called.map(([action, id]) => [action, id]), [["similar", "two"], ["correct", "one"]]);
  assert.equal(called[0][2], buttons[0]); // focus comes back to the button that opened the panel
  assert.deepEqual(pageClicks, []);
  layer.destroy();
  assert.equal(doc.querySelector("shoplens-badges"), null);
});
