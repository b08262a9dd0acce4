import assert from "node:assert/strict";
import { stateOf } from "../../tests/_async.ts";
import { GuardedCaller } from "../modules/guarded_call.ts";
import { Logger } from "../log.ts";
import type { LoadedModule, ProcessContext } from "../modules/module_host.ts";
import { runProcess } from "./runner.ts";

const TIMEOUT_MS = 50;
// Generous upper bound on how late a timeout may be reported on a loaded machine.
const SLACK_SECONDS = 1;

const quietLog = new Logger({ write: () => {} });

/** A module whose invoke() calls `process` the way the in-process host does. */
function moduleOf(name: string, process: (ctx: ProcessContext) => unknown): LoadedModule {
  const caller = new GuardedCaller();
  return {
    name,
    file: `metrics/${name}.ts`,
    url: `file:///metrics/${name}.ts`,
    version: 1,
    invoke: (ctx, timeoutMs) => caller.call(process as (arg: unknown) => unknown, ctx, timeoutMs),
    metricNames: () => [],
    isDynamic: () => false,
    families: () => Promise.resolve([]),
  };
}

function assertTimeoutError(value: unknown): void {
  assert.ok(value instanceof DOMException, `expected a DOMException, got ${value}`);
  assert.equal(value.name, "TimeoutError");
  assert.equal(value.message, "process() timed out after 50ms");
}

Deno.test("runProcess reports a successful call with its duration and start time", async () => {
  let signal: AbortSignal | undefined;
  const before = Date.now();
  const run = runProcess(
    moduleOf("slow_ok", async (ctx) => {
      signal = ctx.signal;
      await new Promise((resolve) => setTimeout(resolve, 30));
    }),
    { timeoutMs: 1000, log: quietLog },
  );
  const { durationSeconds, startedAt, ...rest } = await run.result;
  const after = Date.now();

  assert.deepEqual(rest, { outcome: "success", error: undefined });
  assert.ok(
    durationSeconds >= 0.025 && durationSeconds < 0.03 + SLACK_SECONDS,
    `duration ${durationSeconds}`,
  );
  assert.ok(startedAt >= before && startedAt <= after, `startedAt ${startedAt} not in [${before}, ${after}]`);
  assert.equal(signal?.aborted, false);
  assert.equal(await stateOf(run.settled), "fulfilled");
});

Deno.test("runProcess reports a process that throws or rejects as an error, keeping the error", async () => {
  const cases: [string, (boom: Error) => () => unknown][] = [
    ["throws", (boom) => () => {
      throw boom;
    }],
    ["rejects", (boom) => async () => {
      await Promise.resolve();
      throw boom;
    }],
  ];
  for (const [name, process] of cases) {
    const boom = new Error(`${name}: disk not mounted`);
    const run = runProcess(moduleOf(name, process(boom)), { timeoutMs: 1000, log: quietLog });
    const { durationSeconds: _, startedAt: __, ...rest } = await run.result;

    assert.deepEqual(rest, { outcome: "error", error: boom }, name);
    assert.equal(rest.error, boom, name);
    assert.equal(await stateOf(run.settled), "fulfilled", name);
  }
});

Deno.test("runProcess abandons a process that never settles at the timeout and aborts its signal", async () => {
  let ctxSeen: ProcessContext | undefined;
  let release = () => {};
  const run = runProcess(
    moduleOf("hangs", (ctx) => {
      ctxSeen = ctx;
      return new Promise<void>((resolve) => release = resolve);
    }),
    { timeoutMs: TIMEOUT_MS, log: quietLog },
  );
  const result = await run.result;

  assert.equal(result.outcome, "timeout");
  assertTimeoutError(result.error);
  assert.ok(
    result.durationSeconds >= 0.045 && result.durationSeconds < 0.05 + SLACK_SECONDS,
    `duration ${result.durationSeconds}`,
  );
  assert.equal(ctxSeen?.signal.aborted, true);
  assert.equal(ctxSeen?.signal.reason, result.error);
  assert.equal(await stateOf(run.settled), "pending");

  release();
  assert.equal(await stateOf(run.settled), "fulfilled");
});

Deno.test("runProcess settles a process that rejects with the signal's reason on abort", async () => {
  const run = runProcess(
    moduleOf("honours_signal", (ctx) =>
      new Promise<void>((_, reject) => {
        ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason), { once: true });
      })),
    { timeoutMs: TIMEOUT_MS, log: quietLog },
  );
  const result = await run.result;

  assert.equal(result.outcome, "timeout");
  assertTimeoutError(result.error);
  assert.equal(await stateOf(run.settled), "fulfilled");
});

Deno.test("runProcess counts a process that rejects with its own error on abort as a timeout", async () => {
  // The call outlived its timeout; how the module words its cancellation must not turn that
  // into an "error".
  const run = runProcess(
    moduleOf("cancels", (ctx) =>
      new Promise<void>((_, reject) => {
        ctx.signal.addEventListener("abort", () => reject(new Error("request cancelled")), { once: true });
      })),
    { timeoutMs: TIMEOUT_MS, log: quietLog },
  );
  const result = await run.result;

  assert.equal(result.outcome, "timeout");
  assertTimeoutError(result.error);
  assert.equal(await stateOf(run.settled), "fulfilled");
});

Deno.test("runProcess interrupts a synchronous endless loop at the timeout", async () => {
  let ctxSeen: ProcessContext | undefined;
  const run = runProcess(
    moduleOf("spins", (ctx) => {
      ctxSeen = ctx;
      let spins = 0;
      for (;;) spins++;
    }),
    { timeoutMs: TIMEOUT_MS, log: quietLog },
  );
  const result = await run.result;

  assert.equal(result.outcome, "timeout");
  assertTimeoutError(result.error);
  assert.ok(
    result.durationSeconds >= 0.04 && result.durationSeconds < 0.05 + SLACK_SECONDS,
    `duration ${result.durationSeconds}`,
  );
  assert.equal(ctxSeen?.signal.aborted, true);
  assertTimeoutError(ctxSeen?.signal.reason);
  assert.equal(await stateOf(run.settled), "fulfilled");
  // The event loop still turns: a timer set now fires.
  await new Promise((resolve) => setTimeout(resolve, 0));
});

Deno.test("runProcess hands process() the module name and the module's logger", async () => {
  const lines: string[] = [];
  const log = new Logger({ write: (line) => lines.push(line), now: () => new Date(0) }).child({
    module: "disk",
  });
  let ctxSeen: ProcessContext | undefined;
  const run = runProcess(
    moduleOf("disk", (ctx) => {
      ctxSeen = ctx;
      ctx.log.info("disk checked", { free_bytes: 10 });
    }),
    { timeoutMs: 1000, log },
  );
  assert.equal((await run.result).outcome, "success");

  assert.equal(ctxSeen?.module, "disk");
  assert.equal(ctxSeen?.log, log);
  assert.deepEqual(lines, [
    'ts=1970-01-01T00:00:00.000Z level=info msg="disk checked" module=disk free_bytes=10',
  ]);
});
