// Shoppers' corrections of a badge ("Wrong label?"): what the badge shows once corrected, what
// is sent to the API (POST /v1/feedback) and the words that tell the shopper so, the model's
// vocabulary read from GET /v1/models. Used by the content script and the service worker.
(function (root) {
  "use strict";

  /** What a correction sends, in the words the consent prompt and the options page show. */
  const WHAT_IS_SENT = "When you correct a label, ShopLens sends to the ShopLens API you set up: the picture's URL, "
    + "the page's URL, the label the model gave (category, colour, model version), the labels you chose, "
    + "and the time. Nothing else: no cookies, no other pages.";

  /** The answer as the shopper corrected it: their category and colour (or no garment), marked as
   * theirs; the model's own top three stay for the hover card. */
  function corrected(answer, correction) {
    if (!correction.garment) return { ...answer, corrected: true, garment: false, category: "not a garment",
      colour: undefined };
    return { ...answer, corrected: true, garment: true, category: correction.category,
      colour: correction.colour ? { label: correction.colour, probability: 1 } : undefined };
  }

  /** The model's vocabulary from GET /v1/models: {version, category: [...], colour: [...]} (the
   * default version's), or null where the API does not tell it. */
  function vocabularyOf(models) {
    const labels = models && models.labels;
    if (!labels || !Array.isArray(labels.category) || !labels.category.length) return null;
    return { version: String(models.default_version), category: labels.category.map(String),
      colour: Array.isArray(labels.colour) ? labels.colour.map(String) : [] };
  }

  /** Whether `correction` names labels of `vocabulary` ({garment: false} always does). */
  function valid(correction, vocabulary) {
    if (!correction || typeof correction !== "object") return false;
    if (correction.garment === false) return true;
    return vocabulary.category.includes(correction.category)
      && (!correction.colour ? !vocabulary.colour.length : vocabulary.colour.includes(correction.colour));
  }

  /** The body of POST /v1/feedback for a correction of the answer shown on the picture at
   * `pictureUrl`, on the page at `pageUrl`, made at `time` (a Date). */
  function feedbackBody({ pictureUrl, pageUrl, answer, correction, time }) {
    const predicted = { category: answer.category, probability: answer.labels[0].probability,
      ...(answer.colour ? { colour: answer.colour.label } : {}) };
    const labels = correction.garment === false ? { garment: false }
      : { garment: true, category: correction.category, ...(correction.colour ? { colour: correction.colour } : {}) };
    return { picture_url: pictureUrl, page_url: pageUrl, model_version: String(answer.version || ""),
      predicted, corrected: labels, time: time.toISOString() };
  }

  const api = { WHAT_IS_SENT, corrected, vocabularyOf, valid, feedbackBody };
  root.ShopLens = Object.assign(root.ShopLens || {}, { corrections: api });
  if (typeof module !== "undefined") module.exports = api;
})(globalThis);
