// What a badge says, what the popup counts, and whether a product passes the filter.
(function (root) {
  "use strict";

  /** Whether a badge belongs on the picture: not where the API says it shows no garment
   * (answers without the field, from older APIs, count as garments). */
  function isGarment(answer) {
    return answer.garment !== false;
  }

  /** Low confidence: the model's own flag (first two categories close) or a top probability under `threshold`. */
  function isLowConfidence(answer, threshold) {
    if (answer.corrected) return false; // the shopper's own label
    return Boolean(answer.low_confidence) || answer.labels[0].probability < threshold;
  }

  function percent(probability) {
    return `${Math.round(probability * 100)}%`;
  }

  /** One line for the badge: "dress · red · 87%"; a shopper's correction says so in place of the
   * model's confidence: "skirt · blue · your label". */
  function badgeText(answer) {
    const parts = [answer.category];
    if (answer.colour) parts.push(answer.colour.label);
    parts.push(answer.corrected ? "your label" : percent(answer.labels[0].probability));
    return parts.join(" · ");
  }

  /** The top three categories for the hover panel: ["dress 87%", ...]. */
  function topThree(answer) {
    return answer.labels.slice(0, 3).map((label) => `${label.label} ${percent(label.probability)}`);
  }

  /** The categories a filter finds the picture under: the answer's category set (every category whose
   * calibrated probability passes the model's threshold: a shirt that could be a pullover is both),
   * or its one category where the answer has no set (older APIs). */
  function categoriesOf(answer) {
    return Array.isArray(answer.categories) && answer.categories.length
      ? answer.categories.map((entry) => entry.label) : [answer.category];
  }

  /** Whether an answer passes a filter {category, colour}; an empty field matches anything. */
  function matches(answer, filter) {
    if (filter.category && !categoriesOf(answer).includes(filter.category)) return false;
    if (filter.colour && (!answer.colour || answer.colour.label !== filter.colour)) return false;
    return true;
  }

  /** Counts by category and by colour: {total, categories: {dress: 3}, colours: {red: 2}}. */
  function summarise(answers) {
    const summary = { total: 0, categories: {}, colours: {} };
    for (const answer of answers) {
      summary.total += 1;
      summary.categories[answer.category] = (summary.categories[answer.category] || 0) + 1;
      if (answer.colour) summary.colours[answer.colour.label] = (summary.colours[answer.colour.label] || 0) + 1;
    }
    return summary;
  }

  /** The summaries of a tab's frames (each frame labels its own pictures) as one. */
  function combine(summaries) {
    const add = (key) => summaries.reduce((sum, summary) => sum + (summary[key] || 0), 0);
    const merge = (key) => summaries.reduce((all, summary) => {
      for (const [name, count] of Object.entries(summary[key] || {})) all[name] = (all[name] || 0) + count;
      return all;
    }, {});
    return { ...summaries[0], total: add("total"), pending: add("pending"), waiting: add("waiting"),
      unreadable: add("unreadable"), categories: merge("categories"), colours: merge("colours") };
  }

  const api = { isGarment, isLowConfidence, badgeText, topThree, matches, summarise, combine };
  root.ShopLens = Object.assign(root.ShopLens || {}, { labels: api });
  if (typeof module !== "undefined") module.exports = api;
})(globalThis);
