const { test } = require("node:test");
const assert = require("node:assert/strict");
const Corrections = require("../lib/corrections.js");
const Labels = require("../lib/labels.js");

const ANSWER = { category: "dress", colour: { label: "red", probability: 0.8 }, version: "3", low_confidence: true,
  labels: [{ label: "dress", probability: 0.6 }, { label: "skirt", probability: 0.3 }] };
const VOCABULARY = { version: "3", category: ["dress", "skirt"], colour: ["red", "blue"] };

test("a corrected answer shows the shopper's labels, marked as theirs, never as low confidence", () => {
  const mine = Corrections.corrected(ANSWER, { garment: true, category: "skirt", colour: "blue" });
  assert.equal(Labels.badgeText(mine), "skirt · blue · your label");
  assert.equal(Labels.isLowConfidence(mine, 0.9), false);
  assert.deepEqual(Labels.topThree(mine), ["dress 60%", "skirt 30%"]); // the model's own, for the hover card
  const set = { ...ANSWER, categories: [{ label: "dress", probability: 0.6 }, { label: "skirt", probability: 0.3 }] };
  const fixed = Corrections.corrected(set, { garment: true, category: "skirt", colour: "blue" });
  assert.equal(Labels.matches(fixed, { category: "skirt" }), true);
  assert.equal(Labels.matches(fixed, { category: "dress" }), false); // the model's set no longer counts
  const none = Corrections.corrected(ANSWER, { garment: false });
  assert.equal(Labels.badgeText(none), "not a garment · your label");
  assert.equal(Labels.isGarment(none), false);
});

test("the vocabulary comes from /v1/vocabulary; an answer naming no categories gives none", () => {
  assert.deepEqual(Corrections.vocabularyOf({ model: "shoplens", version: 3, categories: ["dress", "skirt"],
    colours: ["red", "blue"] }), VOCABULARY);
  assert.deepEqual(Corrections.vocabularyOf({ version: "1", categories: ["dress"], colours: [] }),
    { version: "1", category: ["dress"], colour: [] });
  assert.equal(Corrections.vocabularyOf({ model: "m", default_version: "1", versions: [] }), null);
});

test("only the model's labels are corrections", () => {
  assert.equal(Corrections.valid({ garment: true, category: "skirt", colour: "blue" }, VOCABULARY), true);
  assert.equal(Corrections.valid({ garment: false }, VOCABULARY), true);
  assert.equal(Corrections.valid({ garment: true, category: "hat", colour: "blue" }, VOCABULARY), false);
  assert.equal(Corrections.valid({ garment: true, category: "skirt", colour: "mauve" }, VOCABULARY), false);
  assert.equal(Corrections.valid({ garment: true, category: "skirt" }, VOCABULARY), false); // the model has colours
  assert.equal(Corrections.valid("skirt", VOCABULARY), false);
});

test("the feedback body carries picture and page URL, prediction, model version, correction and time", () => {
  const time = new Date("2026-11-23T22:00:00Z");
  const body = Corrections.feedbackBody({ pictureUrl: "https://cdn.example/1.jpg", pageUrl: "https://shop.example/c",
    answer: ANSWER, correction: { garment: true, category: "skirt", colour: "blue" }, time });
  assert.deepEqual(body, { picture: { url: "https://cdn.example/1.jpg" }, page_url: "https://shop.example/c",
    predicted: { category: "dress", colour: "red", model_version: "3" },
    corrected: { garment: true, category: "skirt", colour: "blue" }, reported_at: "2026-11-23T22:00:00.000Z" });
  const none = Corrections.feedbackBody({ pictureUrl: "a", pageUrl: "b", answer: ANSWER, correction: { garment: false },
    time });
  assert.deepEqual(none.corrected, { garment: false });
  for (const word of ["picture's URL", "page's URL", "model version", "labels you chose", "time"]) {
    assert.ok(Corrections.WHAT_IS_SENT.includes(word), word);
  }
});
