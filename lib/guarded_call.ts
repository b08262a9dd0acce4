/**
 * Calls user code through node:vm so that a synchronous loop is interrupted at a timeout
 * instead of freezing the exporter (measured here: vm's timeout stops the synchronous part
 * of the call in the main isolate). A loop that starts after an `await` escapes it.
 */

import vm from "node:vm";
import { MAX_TIMER_MS } from "./long_timer.ts";

export const VM_TIMEOUT_CODE = "ERR_SCRIPT_EXECUTION_TIMEOUT";

export class GuardedCaller {
  readonly #script = new vm.Script("__fn(__arg)", { filename: "dynamic_exporter:call" });
  readonly #context = vm.createContext({ __fn: undefined, __arg: undefined });

  /** Calls `fn(arg)`; throws a timeout error if its synchronous part exceeds `timeoutMs`. */
  call(fn: (arg: unknown) => unknown, arg: unknown, timeoutMs: number): unknown {
    this.#context.__fn = fn;
    this.#context.__arg = arg;
    try {
      return this.#script.runInContext(this.#context, {
        // node:vm takes a 32-bit timeout; a synchronous part longer than 24.8 days is not a concern.
        timeout: Math.min(Math.max(1, Math.ceil(timeoutMs)), MAX_TIMER_MS),
      });
    } finally {
      this.#context.__fn = undefined;
      this.#context.__arg = undefined;
    }
  }
}

/** True for the error node:vm throws when the synchronous part ran out of time. */
export function isSyncTimeout(err: unknown): boolean {
  return (err as { code?: unknown })?.code === VM_TIMEOUT_CODE;
}
