/**
 * The one door every process() call goes through: timeout and abort signal, duration and
 * outcome, and nothing it throws escapes.
 */

import { isSyncTimeout } from "../modules/guarded_call.ts";
import type { Logger } from "../log.ts";
import type { LoadedModule } from "../modules/module_host.ts";
import { formatDuration } from "../duration.ts";
import { clearLongTimeout, setLongTimeout } from "../long_timer.ts";

export type RunOutcome = "success" | "error" | "timeout";

export interface RunResult {
  outcome: RunOutcome;
  durationSeconds: number;
  /** Wall-clock start, ms since the epoch. */
  startedAt: number;
  error?: unknown;
  /** A timeout whose call had not settled when the result was delivered: it runs on, abandoned. */
  abandoned?: boolean;
}

export interface Run {
  /** Settles at completion or at the timeout, whichever is first; never rejects. */
  result: Promise<RunResult>;
  /** Settles when the call itself has settled (later than `result` for an abandoned call). */
  settled: Promise<void>;
}

export interface RunOptions {
  timeoutMs: number;
  /** The module's logger, handed to process() as ctx.log. */
  log: Logger;
}

/** Starts one process() call of `module`. */
export function runProcess(module: LoadedModule, options: RunOptions): Run {
  const { timeoutMs, log } = options;
  const startedAt = Date.now();
  const start = performance.now();
  const controller = new AbortController();
  const timeoutError = new DOMException(
    `process() timed out after ${formatDuration(timeoutMs)}`,
    "TimeoutError",
  );
  const timer = setLongTimeout(() => controller.abort(timeoutError), timeoutMs);
  const ctx = { signal: controller.signal, log, module: module.name };

  let call: Promise<unknown>;
  try {
    call = Promise.resolve(module.invoke(ctx, timeoutMs));
  } catch (err) {
    call = Promise.reject(err);
  }
  // Registered before the race below, so it has run by the time the race settles the result.
  let done = false;
  const settled = call.then(() => {}, () => {}).finally(() => clearLongTimeout(timer));
  call.then(() => done = true, () => done = true);
  const aborted = new Promise<never>((_, reject) => {
    controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
  });
  const finish = (outcome: RunOutcome, error?: unknown): RunResult => ({
    outcome,
    durationSeconds: (performance.now() - start) / 1000,
    startedAt,
    error,
    ...(outcome === "timeout" && !done ? { abandoned: true } : {}),
  });
  const result = Promise.race([call, aborted]).then(
    () => finish("success"),
    (err) => {
      // A process() that stops at the abort may reject with an error of its own first.
      const timedOut = controller.signal.reason === timeoutError || isSyncTimeout(err);
      return timedOut ? finish("timeout", timeoutError) : finish("error", err);
    },
  ).then((run) => {
    // A synchronous timeout fires before the timer: abort so that pending async work stops too.
    if (run.outcome === "timeout" && !controller.signal.aborted) controller.abort(timeoutError);
    return run;
  });
  aborted.catch(() => {});
  return { result, settled };
}
