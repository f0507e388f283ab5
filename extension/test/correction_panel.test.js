const { test } = require("node:test");
const assert = require("node:assert/strict");
const { JSDOM } = require("jsdom");
require("../lib/labels.js");
require("../lib/corrections.js");
require("../lib/dialog.js");
const { CorrectionPanel } = require("../correction_panel.js");

const ANSWER = { category: "dress", colour: { label: "red", probability: 0.8 }, version: "3",
  labels: [{ label: "dress", probability: 0.6 }] };
const VOCABULARY = { version: "3", category: ["dress", "skirt", "shirt"], colour: ["red", "blue"] };

/** A page with a focused button (the badge's), and a correction dialog answered by `worker`. */
async function open(consent, worker = async () => ({ sent: true })) {
  const dom = new JSDOM("<!doctype html><button id=origin>Wrong label?</button>", { pretendToBeVisual: true });
  const doc = dom.window.document;
  const origin = doc.getElementById("origin");
  origin.focus();
  const log = { asked: [], shown: [], agreed: [] };
  const panel = await CorrectionPanel.open(doc, {
    answer: ANSWER, consent,
    ask: async (message) => {
      log.asked.push(message);
      return message.type === "vocabulary" ? VOCABULARY : worker(message);
    },
    onCorrect: (correction) => log.shown.push(correction),
    agree: async (yes) => log.agreed.push(yes),
  }, origin);
  const shadow = doc.querySelector("shoplens-correction").shadowRoot;
  return { dom, doc, origin, panel, shadow, log, $: (selector) => shadow.querySelector(selector) };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

test("the first correction asks, saying what is sent; agreeing sends it and shows it at once", async () => {
  const { doc, origin, shadow, log, $ } = await open(null);
  assert.deepEqual([...$("#category").options].map((o) => o.value), VOCABULARY.category);
  assert.equal($("#category").value, "dress"); // the model's answer preselected
  assert.equal($("#colour").value, "red");
  assert.equal(shadow.activeElement, $("#category"));
  assert.match($("#consent").textContent, /picture's URL.*page's URL.*model version.*labels you chose.*time/);
  $("#category").value = "skirt";
  $("#colour").value = "blue";
  $("#agree").click();
  await settle();
  assert.deepEqual(log.agreed, [true]);
  assert.deepEqual(log.shown, [{ garment: true, category: "skirt", colour: "blue" }]);
  assert.deepEqual(log.asked.at(-1), { type: "feedback", correction: log.shown[0], answer: ANSWER });
  assert.equal(doc.querySelector("shoplens-correction"), null); // sent: closed, focus back on the badge
  assert.equal(doc.activeElement, origin);
});

test("declining changes the badge only; once off, nothing is sent and the dialog says so", async () => {
  const declined = await open(null);
  declined.$("#not-garment").click();
  assert.equal(declined.$("#category").disabled, true);
  declined.$("#local").click();
  await settle();
  assert.deepEqual(declined.log.agreed, [false]);
  assert.deepEqual(declined.log.shown, [{ garment: false }]);
  assert.equal(declined.log.asked.filter((m) => m.type === "feedback").length, 0);

  const off = await open(false);
  assert.equal(off.$("#consent"), null);
  assert.equal(off.$("#agree"), null);
  assert.match(off.shadow.textContent, /Sending corrections is off/);
  off.$("#local").click();
  await settle();
  assert.equal(off.log.asked.filter((m) => m.type === "feedback").length, 0);
  assert.deepEqual(off.log.agreed, []); // the options' switch stays as the shopper set it
});

test("agreed before: one button sends; a refusal is shown and the dialog stays", async () => {
  const { doc, log, $, shadow } = await open(true, async () => ({ sent: false, error: "rate limited" }));
  assert.equal($("#consent"), null);
  $("#send").click();
  await settle();
  assert.deepEqual(log.agreed, []);
  assert.equal(log.shown.length, 1);
  assert.ok(doc.querySelector("shoplens-correction"));
  assert.match(shadow.querySelector("[role=status]").textContent, /Not sent: rate limited/);
});
