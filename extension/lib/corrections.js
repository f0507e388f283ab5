// Shoppers' corrections of a badge ("Wrong label?"): what the badge shows once corrected, what
// is sent to the API (POST /v1/feedback) and the words that tell the shopper so, the model's
// vocabulary read from GET /v1/vocabulary. Used by the content script and the service worker.
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
      categories: [], colour: undefined };
    return { ...answer, corrected: true, garment: true, category: correction.category,
      categories: [{ label: correction.category, probability: 1 }],
      colour: correction.colour ? { label: correction.colour, probability: 1 } : undefined };
  }

  /** The model's vocabulary from GET /v1/vocabulary (the default version's labels):
   * {version, category: [...], colour: [...]}, or null where the answer names no categories. */
  function vocabularyOf(answer) {
    if (!answer || !Array.isArray(answer.categories) || !answer.categories.length) return null;
    return { version: String(answer.version), category: answer.categories.map(String),
      colour: Array.isArray(answer.colours) ? answer.colours.map(String) : [] };
  }

  /** Whether `correction` names labels of `vocabulary` ({garment: false} always does). */
  function valid(correction, vocabulary) {
    if (!correction || typeof correction !== "object") return false;
    if (correction.garment === false) return true;
    return vocabulary.category.includes(correction.category)
      && (!correction.colour ? !vocabulary.colour.length : vocabulary.colour.includes(correction.colour));
  }

  /** The body of POST /v1/feedback (the API's FeedbackRequest) for a correction of the answer shown
   * on the picture at `pictureUrl`, on the page at `pageUrl`, made at `time` (a Date). */
  function feedbackBody({ pictureUrl, pageUrl, answer, correction, time }) {
    const predicted = { category: answer.category, model_version: String(answer.version || ""),
      ...(answer.colour ? { colour: answer.colour.label } : {}) };
    const labels = correction.garment === false ? { garment: false }
      : { garment: true, category: correction.category, ...(correction.colour ? { colour: correction.colour } : {}) };
    return { picture: { url: pictureUrl }, page_url: pageUrl, predicted, corrected: labels,
      reported_at: time.toISOString() };
  }

  const api = { WHAT_IS_SENT, corrected, vocabularyOf, valid, feedbackBody };
  root.ShopLens = Object.assign(root.ShopLens || {}, { corrections: api });
  if (typeof module !== "undefined") module.exports = api;
})(globalThis);
