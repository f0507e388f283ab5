const { test } = require("node:test");
const assert = require("node:assert/strict");
const Labels = require("../lib/labels.js");

const answer = (category, colour, probability, low = false) => ({
  category, low_confidence: low, colour: colour ? { label: colour, probability: 0.9 } : undefined,
  labels: [{ label: category, probability }, { label: "other", probability: 1 - probability }],
});

test("badge text and hover lines", () => {
  assert.equal(Labels.badgeText(answer("dress", "red", 0.873)), "dress · red · 87%");
  assert.equal(Labels.badgeText(answer("shirt", null, 0.5)), "shirt · 50%");
  assert.deepEqual(Labels.topThree(answer("dress", "red", 0.8)), ["dress 80%", "other 20%"]);
});

test("low confidence: the model's flag or a top probability under the threshold", () => {
  assert.equal(Labels.isLowConfidence(answer("dress", "red", 0.9), 0.5), false);
  assert.equal(Labels.isLowConfidence(answer("dress", "red", 0.9, true), 0.5), true);
  assert.equal(Labels.isLowConfidence(answer("dress", "red", 0.4), 0.5), true);
});

test("the filter matches category and colour; empty fields match anything", () => {
  const redDress = answer("dress", "red", 0.9);
  assert.equal(Labels.matches(redDress, { category: "dress", colour: "red" }), true);
  assert.equal(Labels.matches(redDress, { category: "dress", colour: "blue" }), false);
  assert.equal(Labels.matches(redDress, { category: "", colour: "red" }), true);
  assert.equal(Labels.matches(answer("dress", null, 0.9), { colour: "red" }), false);
});

test("the filter finds an ambiguous picture under every category of its set", () => {
  // an answer as POST /v1/classify gives it: a shirt that could be a pullover
  const ambiguous = { ...answer("shirt", "blue", 0.55), categories: [{ label: "shirt", probability: 0.55 },
    { label: "pullover", probability: 0.38 }] };
  assert.equal(Labels.matches(ambiguous, { category: "pullover" }), true);
  assert.equal(Labels.matches(ambiguous, { category: "shirt", colour: "blue" }), true);
  assert.equal(Labels.matches(ambiguous, { category: "dress" }), false);
  assert.equal(Labels.matches(ambiguous, { category: "pullover", colour: "red" }), false);
});

test("counts by category and colour", () => {
  const summary = Labels.summarise([answer("dress", "red", 0.9), answer("dress", "blue", 0.9), answer("shirt", "red", 0.9)]);
  assert.deepEqual(summary, { total: 3, categories: { dress: 2, shirt: 1 }, colours: { red: 2, blue: 1 } });
});

test("no badge where the API says the picture shows no garment; answers without the field are garments", () => {
  assert.equal(Labels.isGarment({ ...answer("skirt", "blue", 0.58), garment: false }), false);
  assert.equal(Labels.isGarment({ ...answer("skirt", "blue", 0.58), garment: true }), true);
  assert.equal(Labels.isGarment(answer("skirt", "blue", 0.58)), true);
});
