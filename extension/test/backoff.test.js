const { test } = require("node:test");
const assert = require("node:assert/strict");
const { Backoff } = require("../lib/backoff.js");

test("backoff doubles up to its cap and resets on success", () => {
  const backoff = new Backoff(1000, 8000);
  const delays = [0, 1, 2, 3, 4, 5].map(() => backoff.failed(0));
  delays.forEach((delay, n) => {
    const nominal = Math.min(8000, 1000 * 2 ** n);
    assert.ok(delay >= nominal * 0.75 && delay <= nominal * 1.25, `delay ${n}: ${delay}`);
  });
  assert.ok(backoff.wait(0) > 0);
  backoff.succeeded();
  assert.equal(backoff.wait(0), 0);
});
