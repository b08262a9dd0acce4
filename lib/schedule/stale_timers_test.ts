import assert from "node:assert/strict";
import { FakeClock } from "../../tests/_fake_clock.ts";
import { StaleTimers } from "./stale_timers.ts";

function setup() {
  const clock = new FakeClock();
  const stale: string[] = [];
  const timers = new StaleTimers({ clock, onStale: (name) => stale.push(name) });
  return { clock, stale, timers };
}

Deno.test("StaleTimers reports a module once its last success is older than its maxAge", () => {
  const { clock, stale, timers } = setup();
  timers.configure("a", 1000);
  timers.succeeded("a");
  clock.advance(999);
  assert.deepEqual(stale, []);
  clock.advance(1);
  assert.deepEqual(stale, ["a"]);
  assert.equal(timers.isStale("a"), true);
  clock.advance(10_000);
  assert.deepEqual(stale, ["a"]);
});

Deno.test("StaleTimers counts maxAge from the last success, not the first", () => {
  const { clock, stale, timers } = setup();
  timers.configure("a", 1000);
  timers.succeeded("a");
  clock.advance(800);
  timers.succeeded("a");
  clock.advance(800);
  assert.deepEqual(stale, []);
  clock.advance(200);
  assert.deepEqual(stale, ["a"]);
});

Deno.test("StaleTimers: a success after going stale makes the module fresh and re-arms it", () => {
  const { clock, stale, timers } = setup();
  timers.configure("a", 1000);
  timers.succeeded("a");
  clock.advance(1000);
  timers.succeeded("a");
  assert.equal(timers.isStale("a"), false);
  clock.advance(1000);
  assert.deepEqual(stale, ["a", "a"]);
});

Deno.test("StaleTimers never reports a module that has not succeeded, or whose maxAge is 0", () => {
  const { clock, stale, timers } = setup();
  timers.configure("never", 1000);
  timers.configure("off", 0);
  timers.succeeded("off");
  clock.advance(100_000);
  assert.deepEqual(stale, []);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("StaleTimers: a new maxAge counts from the success before it (a reload keeps it)", () => {
  const { clock, stale, timers } = setup();
  timers.configure("a", 10_000);
  timers.succeeded("a");
  clock.advance(3000);
  timers.configure("a", 2000);
  assert.deepEqual(stale, []);
  clock.advance(0);
  assert.deepEqual(stale, ["a"]);
});

Deno.test("StaleTimers leaves no timer behind a removed module", () => {
  const { clock, stale, timers } = setup();
  timers.configure("a", 1000);
  timers.succeeded("a");
  timers.configure("b", 1000);
  timers.succeeded("b");
  timers.remove("a");
  timers.close();
  assert.equal(clock.pendingTimers, 0);
  clock.advance(5000);
  assert.deepEqual(stale, []);
});
