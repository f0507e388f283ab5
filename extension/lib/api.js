// The ShopLens API client (service worker only: it holds the API key).
(function (root) {
  "use strict";

  const Pacing = (root.ShopLens && root.ShopLens.pacing) || require("./pacing.js");
  const TIMEOUT_MS = 20000;
  const KINDS = { 401: "unauthorized", 403: "unauthorized", 429: "rate_limited", 502: "unavailable", 503: "unavailable",
    504: "slow" };
  // answers that say "not now" rather than "not this picture": asked again once the server catches up
  const TRANSIENT = new Set([429, 502, 503, 504]);
  const MESSAGES = {
    unreachable: "ShopLens API unreachable",
    unauthorized: "API key refused (check the options)",
    rate_limited: "too many pictures: waiting before asking again",
    unavailable: "the model server is unavailable",
    slow: "the API did not answer in time",
    error: "the API answered with an error",
  };

  class ApiFailure extends Error {
    constructor(kind, detail, retryAfterMs = 0) {
      super(`${MESSAGES[kind]}${detail ? `: ${detail}` : ""}`);
      this.kind = kind;
      this.retryAfterMs = retryAfterMs; // what the server's Retry-After asked for (0: nothing said)
    }
  }

  /** Whether one picture's answer in a batch is a "not now" (its own 503, 429...). */
  function isTransient(result) {
    return Boolean(result && result.error && TRANSIENT.has(result.status));
  }

  /** Calls the API's `path` (POST with `body` and its headers, or GET without a body); the parsed
   * JSON answer, or an ApiFailure. */
  async function call(settings, path, body, headers = {}) {
    let response;
    try {
      response = await fetch(`${settings.endpoint.replace(/\/+$/, "")}${path}`, {
        method: body === undefined ? "GET" : "POST", body, headers: { ...headers, "X-API-Key": settings.apiKey },
        signal: AbortSignal.timeout(TIMEOUT_MS), credentials: "omit",
      });
    } catch (error) {
      throw new ApiFailure(error.name === "TimeoutError" ? "slow" : "unreachable", error.message);
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw new ApiFailure(KINDS[response.status] || "error", answer.error || `HTTP ${response.status}`,
        Pacing.retryAfterMs(response.headers.get("Retry-After")));
    }
    return answer;
  }

  /** POST /v1/classify/batch with `body` (and its headers); returns one result per picture. */
  async function postBatch(settings, body, headers = {}) {
    return (await call(settings, "/v1/classify/batch", body, headers)).results;
  }

  /** POST /v1/similar with one picture: {query, results: [product...]} ("more like this"). The picture's
   * bytes ({blob}) when this browser could read them, else its URL for the API to fetch. */
  function similar(settings, picture, k = 12) {
    const path = `/v1/similar?k=${k}`;
    if (!picture.blob) return call(settings, path, JSON.stringify({ url: picture.url }), { "Content-Type": "application/json" });
    const form = new FormData();
    form.append("image", picture.blob, "picture");
    return call(settings, path, form);
  }

  /** The pictures' bytes ([{blob}]) to the API. */
  function classifyBatch(settings, pictures) {
    const form = new FormData();
    pictures.forEach((picture, index) => form.append("images", picture.blob, `picture-${index}`));
    return postBatch(settings, form);
  }

  /** Picture URLs the API fetches itself (through its address guard): for pictures this
   * browser may show but not read (a CDN without CORS headers). */
  function classifyUrls(settings, urls) {
    return postBatch(settings, JSON.stringify({ urls }), { "Content-Type": "application/json" });
  }

  /** GET /v1/vocabulary: the served model's labels, which corrections name. */
  function vocabulary(settings) {
    return call(settings, "/v1/vocabulary");
  }

  /** POST /v1/feedback with a shopper's correction (lib/corrections.js builds the body). */
  function feedback(settings, body) {
    return call(settings, "/v1/feedback", JSON.stringify(body), { "Content-Type": "application/json" });
  }

  const api = { classifyBatch, classifyUrls, similar, vocabulary, feedback, isTransient, ApiFailure, MESSAGES };
  root.ShopLens = Object.assign(root.ShopLens || {}, { api });
  if (typeof module !== "undefined") module.exports = api;
})(globalThis);
