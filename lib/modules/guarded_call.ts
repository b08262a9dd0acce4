/**
 * Calls user code through node:vm so that a synchronous loop is interrupted at a timeout
 * instead of freezing the exporter (measured here: vm's timeout stops the synchronous part
 * of the call in the main isolate). A loop that starts after an `await` escapes it.
 *
 * The trap (issue 8, item 3): on Deno 2.9.6, `runInContext` with a timeout starts a watchdog
 * thread that calls V8's TerminateExecution() when the time is up (ext/node/ops/vm.rs,
 * `eval_machine`). V8 only acts on that request at its next interrupt check, which native
 * code (a huge `fill`, `JSON.parse`, a big synchronous read) does not make. When the call
 * returns before V8 has checked, Deno sees the timeout flag but no termination in progress,
 * so it does not cancel it: the request stays pending and unwinds whatever JavaScript runs
 * next, the exporter's own code, dropping every queued promise reaction. Deno cancels the
 * termination only when it is delivered inside the script. So the script checks before it
 * ends: calling any function is an interrupt check that delivers a pending termination
 * there, and a call that ended close to its timeout spins until the watchdog fires, so that
 * the watchdog can never fire after the script has ended.
 */

import vm from "node:vm";
import { MAX_TIMER_MS } from "../long_timer.ts";

export const VM_TIMEOUT_CODE = "ERR_SCRIPT_EXECUTION_TIMEOUT";

/** The real monotonic clock, taken before any module code runs: a replaying host gives modules a recorded one (lib/host/fixture_shim.ts). */
const now = performance.now.bind(performance);
/**
 * How long before its timeout a call must have ended to count as in time: the time the
 * exporter allows itself between the script's last check and the end of `runInContext`, a
 * few instructions, even when the machine is loaded. A quarter of the timeout, at most 250 ms.
 */
export function guardMarginMs(timeoutMs: number): number {
  return Math.min(timeoutMs / 4, 250);
}

// `late()` is a function call, hence an interrupt check, on every path out of the call; a
// call that ended within the margin of its timeout waits in the loop for the watchdog.
const SOURCE = "(function (fn, arg, late) {\n" +
  "  try { return fn(arg); } finally { if (late()) for (;;); }\n" +
  "})(__fn, __arg, __late)";

export class GuardedCaller {
  readonly #script = new vm.Script(SOURCE, { filename: "dynamic_exporter:call" });
  readonly #context = vm.createContext({ __fn: undefined, __arg: undefined, __late: undefined });

  /** Calls `fn(arg)`; throws a timeout error if its synchronous part exceeds `timeoutMs`. */
  call(fn: (arg: unknown) => unknown, arg: unknown, timeoutMs: number): unknown {
    // node:vm takes a 32-bit timeout; a synchronous part longer than 24.8 days is not a concern.
    const timeout = Math.min(Math.max(1, Math.ceil(timeoutMs)), MAX_TIMER_MS);
    const budget = timeout - guardMarginMs(timeout);
    // Taken before the watchdog starts, so the watchdog's own clock is never ahead of it.
    const start = now();
    this.#context.__fn = fn;
    this.#context.__arg = arg;
    this.#context.__late = () => now() - start >= budget;
    try {
      return this.#script.runInContext(this.#context, { timeout });
    } finally {
      this.#context.__fn = undefined;
      this.#context.__arg = undefined;
      this.#context.__late = undefined;
    }
  }
}

/** True for the error node:vm throws when the synchronous part ran out of time. */
export function isSyncTimeout(err: unknown): boolean {
  return (err as { code?: unknown })?.code === VM_TIMEOUT_CODE;
}
