// How much to ask the API at once, and when: batches sized to what the server answers in
// time, halved when it is slow or refuses (503, 429, a timeout), grown again while it keeps
// up, and a wait after a refusal that honours its Retry-After, with jittered backoff.
(function (root) {
  "use strict";

  const { Backoff } = (root.ShopLens && root.ShopLens.backoff) || require("./backoff.js");

  const FIRST_SIZE = 4; // pictures in the first batch: small, so the first badges come soon
  const MAX_SIZE = 16; // the API's own batch limit (SHOPLENS_MAX_BATCH) is higher; a page rarely needs more
  const TARGET_MS = 3000; // a batch answered within this keeps its size; in under half of it, the size doubles

  class Pacing {
    constructor({ first = FIRST_SIZE, max = MAX_SIZE, targetMs = TARGET_MS, backoff = new Backoff(1000, 30000) } = {}) {
      this.size = first;
      this.max = max;
      this.targetMs = targetMs;
      this.backoff = backoff;
      this.retryUntil = 0;
    }

    /** A batch of `count` pictures answered in `ms`. */
    answered(ms, count) {
      this.backoff.succeeded();
      this.retryUntil = 0;
      if (ms > this.targetMs) this.size = Math.max(1, Math.floor(this.size / 2));
      else if (ms < this.targetMs / 2 && count >= this.size) this.size = Math.min(this.max, this.size * 2);
    }

    /** The server refused or did not answer in time: smaller batches, and the wait before the
     * next (the server's Retry-After when it said one, never less than the backoff's). */
    refused(retryAfterMs = 0, now = Date.now()) {
      this.size = Math.max(1, Math.floor(this.size / 2));
      // the server's own wait, spread a little so that tabs told the same do not come back together
      const asked = (retryAfterMs || 0) * (1 + Math.random() * 0.25);
      const delay = Math.max(asked, this.backoff.failed(now));
      this.retryUntil = now + delay;
      return delay;
    }

    /** Milliseconds still to wait before asking again (0: go). */
    wait(now = Date.now()) {
      return Math.max(0, this.retryUntil - now);
    }
  }

  /** Milliseconds a Retry-After header asks for (seconds, or an HTTP date); 0 without one. */
  function retryAfterMs(header, now = Date.now()) {
    if (!header) return 0;
    const seconds = Number(header);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(header);
    return Number.isFinite(date) ? Math.max(0, date - now) : 0;
  }

  const api = { Pacing, retryAfterMs, FIRST_SIZE, MAX_SIZE, TARGET_MS };
  root.ShopLens = Object.assign(root.ShopLens || {}, { pacing: api });
  if (typeof module !== "undefined") module.exports = api;
})(globalThis);
