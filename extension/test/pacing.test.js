const { test } = require("node:test");
const assert = require("node:assert/strict");
const { Pacing, retryAfterMs } = require("../lib/pacing.js");

test("batches grow while the server keeps up and halve when it is slow or refuses", () => {
  const pacing = new Pacing({ first: 4, max: 16, targetMs: 3000 });
  pacing.answered(500, 4);
  assert.equal(pacing.size, 8);
  pacing.answered(500, 8);
  pacing.answered(500, 16);
  assert.equal(pacing.size, 16); // capped
  pacing.answered(2000, 16);
  assert.equal(pacing.size, 16); // in time: kept
  pacing.answered(5000, 16);
  assert.equal(pacing.size, 8); // slow: halved
  pacing.refused(0, 0);
  assert.equal(pacing.size, 4);
  [0, 0, 0].forEach(() => pacing.refused(0, 0));
  assert.equal(pacing.size, 1); // never below one picture
});

test("a refusal waits at least what the server asked, and at least the backoff", () => {
  const pacing = new Pacing();
  const delay = pacing.refused(5000, 0);
  assert.ok(delay >= 5000 && delay <= 6250, `delay ${delay}`);
  assert.ok(pacing.wait(0) >= 5000);
  assert.equal(pacing.wait(10000), 0);
  const fresh = new Pacing();
  const backoffOnly = fresh.refused(0, 0);
  assert.ok(backoffOnly >= 750 && backoffOnly <= 1250, `delay ${backoffOnly}`);
  fresh.answered(100, 1);
  assert.equal(fresh.wait(0), 0);
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  assert.equal(retryAfterMs("3"), 3000);
  assert.equal(retryAfterMs(null), 0);
  assert.equal(retryAfterMs("soon"), 0);
  const now = Date.parse("Mon, 07 Dec 2026 01:00:00 GMT");
  assert.equal(retryAfterMs("Mon, 07 Dec 2026 01:00:10 GMT", now), 10000);
});
