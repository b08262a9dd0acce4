import assert from "node:assert/strict";
import { GuardedCaller, guardMarginMs } from "./guarded_call.ts";

/**
 * Runs `fn` through the caller with a timeout it overruns inside native code, then checks
 * that the caller's own code after it still runs: a plain function call, a promise reaction
 * and a timer. Before the fix the termination left pending unwound exactly this code.
 */
async function assertOnlyTheCallUnwinds(fn: () => unknown): Promise<void> {
  const caller = new GuardedCaller();
  assert.throws(() => caller.call(fn, undefined, 5), { code: "ERR_SCRIPT_EXECUTION_TIMEOUT" });
  const add = (a: number, b: number) => a + b;
  let sum = 0;
  for (let i = 0; i < 1000; i++) sum = add(sum, 1);
  assert.equal(sum, 1000);
  assert.equal(await Promise.resolve(41).then((x) => x + 1), 42);
  assert.equal(await new Promise((resolve) => setTimeout(() => resolve("timer"), 1)), "timer");
  // The caller stays usable.
  assert.equal(caller.call((x) => (x as number) * 2, 21, 1000), 42);
}

Deno.test("GuardedCaller: a timeout during a huge fill unwinds only the call", async () => {
  await assertOnlyTheCallUnwinds(() => {
    new Uint8Array(128 * 1024 ** 2).fill(1);
  });
});

Deno.test("GuardedCaller: a timeout during JSON.parse of a big string unwinds only the call", async () => {
  const text = JSON.stringify(Array.from({ length: 400_000 }, (_, i) => ({ i, s: "x" + i })));
  await assertOnlyTheCallUnwinds(() => JSON.parse(text));
});

Deno.test("GuardedCaller: a timeout during a big synchronous read unwinds only the call", async () => {
  const file = await Deno.makeTempFile({ prefix: "dx_guarded_" });
  try {
    await Deno.writeFile(file, new Uint8Array(128 * 1024 ** 2));
    await assertOnlyTheCallUnwinds(() => {
      // Several reads so that the call outlasts its 5 ms whatever the page cache holds.
      for (let i = 0; i < 4; i++) Deno.readFileSync(file);
    });
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("GuardedCaller: native code that throws after its timeout unwinds only the call", async () => {
  const text = JSON.stringify(Array.from({ length: 400_000 }, (_, i) => ({ i, s: "x" + i }))) + "}";
  await assertOnlyTheCallUnwinds(() => JSON.parse(text));
});

Deno.test("GuardedCaller: a call that ends within the margin before its timeout counts as timed out", () => {
  const caller = new GuardedCaller();
  const timeoutMs = 200;
  const busyUntil = (ms: number) => () => {
    const end = performance.now() + ms;
    while (performance.now() < end) { /* busy, interruptible */ }
    return "done";
  };
  // 180 ms is past 200 - 50: the call waits for the watchdog rather than racing it.
  assert.equal(guardMarginMs(timeoutMs), 50);
  assert.throws(() => caller.call(busyUntil(180), undefined, timeoutMs), {
    code: "ERR_SCRIPT_EXECUTION_TIMEOUT",
  });
  assert.equal(caller.call(busyUntil(1), undefined, timeoutMs), "done");
});

Deno.test("guardMarginMs is a quarter of the timeout, at most 250 ms", () => {
  assert.equal(guardMarginMs(100), 25);
  assert.equal(guardMarginMs(5000), 250);
});
