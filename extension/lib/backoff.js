// Exponential backoff with jitter: for the API as a whole (service worker) and for each
// picture that could not be read (content script).
(function (root) {
  "use strict";

  /** 1 s, 2 s, 4 s ... (from `base`) at most `cap` after consecutive failures. */
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

  const api = { Backoff };
  root.ShopLens = Object.assign(root.ShopLens || {}, { backoff: api });
  if (typeof module !== "undefined") module.exports = api;
})(globalThis);
