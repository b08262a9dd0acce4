/**
 * A debugging aid for `deno task bench` (issue 10): a timer that should fire every `tickMs`
 * measures how late it fires, which is how long the event loop was held by one task (a render,
 * a gzip, a module's synchronous code). Every `reportMs` it logs the longest stall of that
 * window. Enabled by DYNAMIC_EXPORTER_STALL_PROBE=1 in the environment, never by default.
 */

import type { Logger } from "./log.ts";

export interface StallProbeOptions {
  /** How often the probe timer should fire. Default 10. */
  tickMs?: number;
  /** How often the longest stall is logged. Default 1000. */
  reportMs?: number;
}

/** The environment variable that turns the probe on (any value but "" and "0"). */
export const STALL_PROBE_ENV = "DYNAMIC_EXPORTER_STALL_PROBE";

export class StallProbe {
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(log: Logger, options: StallProbeOptions = {}) {
    const tickMs = options.tickMs ?? 10;
    const reportMs = options.reportMs ?? 1000;
    let last = performance.now();
    let windowStart = last;
    let longest = 0;
    this.#timer = setInterval(() => {
      const now = performance.now();
      longest = Math.max(longest, now - last - tickMs);
      last = now;
      if (now - windowStart >= reportMs) {
        log.info("event loop probe", {
          max_stall_ms: Math.round(Math.max(0, longest) * 10) / 10,
          window_ms: Math.round(now - windowStart),
        });
        windowStart = now;
        longest = 0;
      }
    }, tickMs);
  }

  /** Whether the environment asks for the probe. */
  static enabled(): boolean {
    const value = Deno.env.get(STALL_PROBE_ENV) ?? "";
    return value !== "" && value !== "0";
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
