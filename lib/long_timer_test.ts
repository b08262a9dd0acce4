import assert from "node:assert/strict";
import { clearLongTimeout, MAX_TIMER_MS, setLongTimeout } from "./long_timer.ts";

Deno.test("setLongTimeout fires a short delay like setTimeout", async () => {
  const fired = Promise.withResolvers<number>();
  const start = Date.now();
  setLongTimeout(() => fired.resolve(Date.now() - start), 30);
  assert.ok(await fired.promise >= 29);
});

Deno.test("setLongTimeout does not fire a delay past 2^31-1 ms early", async () => {
  let fired = false;
  const handle = setLongTimeout(() => fired = true, 30 * 24 * 3600_000);
  // A plain setTimeout with this delay fires after 1 ms; give it ample time to show.
  await new Promise((resolve) => setTimeout(resolve, 50));
  clearLongTimeout(handle);
  assert.equal(fired, false);
});

Deno.test("clearLongTimeout stops a pending timeout", async () => {
  let fired = false;
  const handle = setLongTimeout(() => fired = true, 10);
  clearLongTimeout(handle);
  await new Promise((resolve) => setTimeout(resolve, 40));
  assert.equal(fired, false);
  assert.equal(MAX_TIMER_MS, 2147483647);
});
