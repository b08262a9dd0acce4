import assert from "node:assert/strict";
import { stateOf } from "../tests/_async.ts";
import { coalesce } from "./coalesce.ts";

/** A function whose runs each wait for `finish()`; `runs` counts them. */
function gatedRuns() {
  const gates: PromiseWithResolvers<void>[] = [];
  return {
    gates,
    fn: () => {
      const gate = Promise.withResolvers<void>();
      gates.push(gate);
      return gate.promise;
    },
  };
}

Deno.test("coalesce runs at once when idle", async () => {
  const { gates, fn } = gatedRuns();
  const run = coalesce(fn);
  const first = run();
  assert.equal(gates.length, 1);
  gates[0].resolve();
  await first;
});

Deno.test("coalesce makes calls during a run share one next run, which starts after it", async () => {
  const { gates, fn } = gatedRuns();
  const run = coalesce(fn);
  const first = run();
  const later = Array.from({ length: 5 }, () => run());
  assert.equal(gates.length, 1);
  assert.equal(new Set(later).size, 1, "the five calls share one promise");
  gates[0].resolve();
  await first;
  await stateOf(later[0]);
  assert.equal(gates.length, 2);
  assert.equal(await stateOf(later[0]), "pending");
  gates[1].resolve();
  await Promise.all(later);
  assert.equal(gates.length, 2);
});

Deno.test("coalesce: a failed run rejects its callers, and the next run still happens", async () => {
  const { gates, fn } = gatedRuns();
  const run = coalesce(fn);
  const first = run();
  const second = run();
  gates[0].reject(new Error("boom"));
  await assert.rejects(first, /boom/);
  await stateOf(second);
  assert.equal(gates.length, 2);
  gates[1].resolve();
  await second;
  const third = run(); // idle again: a run of its own
  assert.equal(gates.length, 3);
  gates[2].resolve();
  await third;
});
