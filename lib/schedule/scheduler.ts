/**
 * When each module's process() runs: every interval, or at scrape time (interval 0). A run
 * never overlaps the previous one of the same module within its timeout; a tick that finds
 * it running is skipped and reported as an overrun. A failed run is retried with backoff
 * before the next tick. A call abandoned at its timeout no longer blocks the next run, but
 * at most MAX_ABANDONED of them may be pending per module: past that the module is stuck.
 */

import { clearLongTimeout, type LongTimeout, setLongTimeout } from "../long_timer.ts";
import type { LoadedModule } from "../modules/module_host.ts";
import type { Run, RunResult } from "./runner.ts";

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  // Chained, so that an interval or timeout past 24.8 days is not cut to 1 ms.
  setTimeout: (fn, ms) => setLongTimeout(fn, ms),
  clearTimeout: (id) => clearLongTimeout(id as LongTimeout),
};

/**
 * Abandoned calls that may still be pending per module. Each holds whatever its process()
 * holds (sockets, buffers) until it settles: three lets a module ride out a backend that hangs
 * for a few timeouts in a row, and bounds what a process() that ignores ctx.signal can pile up.
 */
export const MAX_ABANDONED = 3;

/** What an operator can do about a stuck module: the log line and the status page say the same. */
export const STUCK_HINT =
  "its process() ignores ctx.signal; pass ctx.signal to fetch and friends so that a " +
  "timed-out call stops, or sandbox the module";

/** The first retry after a failure; each further failure doubles it. */
export const RETRY_BASE_MS = 1000;
/** The longest wait between retries (and never longer than the module's interval). */
export const RETRY_CAP_MS = 5 * 60_000;

/** The wait before retry number `failures` (1 for the first), for a module of `intervalMs`. */
export function retryDelayMs(failures: number, intervalMs: number): number {
  const cap = Math.min(intervalMs, RETRY_CAP_MS);
  return Math.min(RETRY_BASE_MS * 2 ** Math.min(failures - 1, 30), cap);
}

export interface Schedule {
  /** 0 runs at scrape time. */
  intervalMs: number;
  timeoutMs: number;
}

/** Why a tick did not start a run. */
export type OverrunReason = "running" | "stuck";

export interface SchedulerOptions {
  /** Starts one run (the runner). */
  start(module: LoadedModule, timeoutMs: number): Run;
  /** A run finished or timed out. */
  onResult(module: LoadedModule, result: RunResult): void;
  /**
   * A tick was skipped: the previous run has not delivered its result (`running`), or
   * MAX_ABANDONED abandoned calls are still pending (`stuck`).
   */
  onOverrun(module: LoadedModule, reason: OverrunReason): void;
  /** The module's next run is due in `delayMs`; `retry` when that is a retry after a failure. */
  onScheduled?(module: LoadedModule, delayMs: number, retry: boolean): void;
  /** Default: the system clock. */
  clock?: Clock;
}

interface Entry {
  module: LoadedModule;
  schedule: Schedule;
  timer?: unknown;
  /** The result of the run in flight, until it is delivered. */
  pending?: Promise<RunResult>;
  /** Calls that timed out and have not settled yet. */
  abandoned: number;
  /** Failed runs in a row. */
  failures: number;
  /** The next tick of the interval grid (clock time). */
  nextAt: number;
  /** When a retry is due, after a failure (clock time). */
  retryAt?: number;
}

export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  readonly #settling = new Set<Promise<void>>();
  #stopped = false;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Schedules `module`, replacing any module of the same name. Interval modules run now. */
  add(module: LoadedModule, schedule: Schedule): void {
    this.remove(module.name);
    const entry: Entry = { module, schedule, abandoned: 0, failures: 0, nextAt: this.#clock.now() };
    this.#entries.set(module.name, entry);
    if (schedule.intervalMs > 0) this.#fire(entry);
  }

  remove(name: string): void {
    const entry = this.#entries.get(name);
    if (!entry) return;
    if (entry.timer !== undefined) this.#clock.clearTimeout(entry.timer);
    this.#entries.delete(name);
  }

  /**
   * Runs the module as soon as it may (its host was restarted: it is down until it runs
   * again); a run in flight settles first, as a retry would.
   */
  runSoon(name: string): void {
    const entry = this.#entries.get(name);
    if (!entry || entry.schedule.intervalMs === 0) return;
    entry.retryAt = this.#clock.now();
    if (!entry.pending) this.#arm(entry);
  }

  /**
   * Runs the module now, outside its schedule (POST /-/run); the run counts as any other (its
   * result is delivered, an interval module's next tick stays on its grid). Why no run started
   * otherwise: not scheduled, a run in flight, stuck, or shutting down.
   */
  runNow(name: string): Promise<RunResult> | "unknown" | "running" | "stuck" | "stopped" {
    const entry = this.#entries.get(name);
    if (!entry) return "unknown";
    if (this.#stopped) return "stopped";
    if (entry.pending) return "running";
    if (entry.abandoned >= MAX_ABANDONED) return "stuck";
    return this.#run(entry);
  }

  /** Whether a module runs at scrape time. */
  hasScrapeTime(): boolean {
    for (const entry of this.#entries.values()) if (entry.schedule.intervalMs === 0) return true;
    return false;
  }

  /** Runs every scrape-time module and waits for them, at most `capMs` each when given. */
  async collectScrapeTime(capMs?: number): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (const entry of this.#entries.values()) {
      if (entry.schedule.intervalMs > 0) continue;
      // A concurrent scrape shares the run in flight.
      const pending = entry.pending ?? this.#attempt(entry);
      if (pending) waits.push(capMs === undefined ? pending : this.#within(pending, capMs));
    }
    await Promise.all(waits);
  }

  /**
   * Starts no run from now on (shutdown has begun): no tick, no retry, no scrape-time run. Runs
   * in flight still deliver their results, so a scrape in flight gets what it waits for.
   */
  stop(): void {
    this.#stopped = true;
    for (const entry of this.#entries.values()) {
      if (entry.timer !== undefined) this.#clock.clearTimeout(entry.timer);
      entry.timer = undefined;
    }
  }

  /** Stops every timer and waits up to `graceMs` for calls in flight to settle. */
  async close(graceMs = 0): Promise<void> {
    for (const name of [...this.#entries.keys()]) this.remove(name);
    if (this.#settling.size > 0 && graceMs > 0) {
      await this.#within(Promise.all(this.#settling), graceMs);
    }
  }

  /** A tick of the grid or a retry: run if the module may, then arm the next one. */
  #fire(entry: Entry): void {
    if (this.#entries.get(entry.module.name) !== entry) return;
    const now = this.#clock.now();
    if (now >= entry.nextAt) {
      // Ticks stay on the grid of the first run, so a slow run does not shift later ones.
      const { intervalMs } = entry.schedule;
      entry.nextAt += intervalMs * Math.max(1, Math.ceil((now - entry.nextAt) / intervalMs));
    }
    entry.retryAt = undefined;
    this.#attempt(entry);
    this.#arm(entry);
  }

  #arm(entry: Entry): void {
    if (this.#stopped) return;
    if (entry.timer !== undefined) this.#clock.clearTimeout(entry.timer);
    const retry = entry.retryAt !== undefined && entry.retryAt < entry.nextAt;
    const delay = Math.max(0, (retry ? entry.retryAt! : entry.nextAt) - this.#clock.now());
    entry.timer = this.#clock.setTimeout(() => this.#fire(entry), delay);
    this.#options.onScheduled?.(entry.module, delay, retry);
  }

  /** Starts a run unless one is pending or the module is stuck; reports an overrun if not. */
  #attempt(entry: Entry): Promise<RunResult> | undefined {
    if (this.#stopped) return undefined;
    if (entry.pending) {
      this.#options.onOverrun(entry.module, "running");
      return undefined;
    }
    if (entry.abandoned >= MAX_ABANDONED) {
      this.#options.onOverrun(entry.module, "stuck");
      return undefined;
    }
    return this.#run(entry);
  }

  #run(entry: Entry): Promise<RunResult> {
    const { module, schedule } = entry;
    const run = this.#options.start(module, schedule.timeoutMs);
    const pending = run.result.then((result) => {
      entry.pending = undefined;
      if (result.abandoned) {
        entry.abandoned++;
        run.settled.then(() => entry.abandoned--);
      }
      if (this.#entries.get(module.name) !== entry) return result;
      this.#options.onResult(module, result);
      if (schedule.intervalMs > 0) {
        if (result.outcome === "success") {
          entry.failures = 0;
          entry.retryAt = undefined;
        } else {
          entry.failures++;
          entry.retryAt = this.#clock.now() + retryDelayMs(entry.failures, schedule.intervalMs);
        }
        this.#arm(entry);
      }
      return result;
    });
    entry.pending = pending;
    const settled = run.settled.then(() => {
      this.#settling.delete(settled);
    });
    this.#settling.add(settled);
    return pending;
  }

  #within(promise: Promise<unknown>, ms: number): Promise<unknown> {
    let timer: unknown;
    return Promise.race([
      promise,
      new Promise((resolve) => timer = this.#clock.setTimeout(() => resolve(undefined), ms)),
    ]).finally(() => this.#clock.clearTimeout(timer));
  }
}
