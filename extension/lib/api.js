// The ShopLens API client (service worker only: it holds the API key) and its backoff.
(function (root) {
  "use strict";

  const TIMEOUT_MS = 20000;
  const KINDS = { 401: "unauthorized", 403: "unauthorized", 429: "rate_limited", 503: "unavailable" };
  const MESSAGES = {
    unreachable: "ShopLens API unreachable",
    unauthorized: "API key refused (check the options)",
    rate_limited: "too many pictures: waiting before asking again",
    unavailable: "the model server is unavailable",
    error: "the API answered with an error",
  };

  class ApiFailure extends Error {
    constructor(kind, detail) {
      super(`${MESSAGES[kind]}${detail ? `: ${detail}` : ""}`);
      this.kind = kind;
    }
  }

  /** POST /v1/classify/batch with the pictures' bytes; returns one result per picture. */
  async function classifyBatch(settings, pictures) {
    const form = new FormData();
    pictures.forEach((picture, index) => form.append("images", picture.blob, `picture-${index}`));
    let response;
    try {
      response = await fetch(`${settings.endpoint.replace(/\/+$/, "")}/v1/classify/batch`, {
        method: "POST", body: form, headers: { "X-API-Key": settings.apiKey },
        signal: AbortSignal.timeout(TIMEOUT_MS), credentials: "omit",
      });
    } catch (error) {
      throw new ApiFailure("unreachable", error.message);
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new ApiFailure(KINDS[response.status] || "error", body.error || `HTTP ${response.status}`);
    return body.results;
  }

  /** Exponential backoff with jitter: 1 s, 2 s, 4 s ... at most 60 s after consecutive failures. */
  class Backoff {
    constructor(base = 1000, cap = 60000) {
      this.base = base;
      this.cap = cap;
      this.failures = 0;
      this.until = 0;
    }

    failed(now = Date.now()) {
      const delay = Math.min(this.cap, this.base * 2 ** this.failures) * (0.75 + Math.random() * 0.5);
      this.failures += 1;
      this.until = now + delay;
      return delay;
    }

    succeeded() {
      this.failures = 0;
      this.until = 0;
    }

    /** Milliseconds still to wait before the next call (0: go). */
    wait(now = Date.now()) {
      return Math.max(0, this.until - now);
    }
  }

  const api = { classifyBatch, ApiFailure, Backoff, MESSAGES };
  root.ShopLens = Object.assign(root.ShopLens || {}, { api });
  if (typeof module !== "undefined") module.exports = api;
})(globalThis);
