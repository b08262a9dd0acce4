/**
 * When each module's process() runs: every interval, or at scrape time (interval 0). A run
 * never overlaps the previous one of the same module; a tick that finds it running is
 * skipped and reported as an overrun.
 */

import type { LoadedModule } from "./module_host.ts";
import type { Run, RunResult } from "./runner.ts";

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
}

type TimerId = ReturnType<typeof setTimeout>;

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as TimerId),
};

export interface Schedule {
  /** 0 runs at scrape time. */
  intervalMs: number;
  timeoutMs: number;
}

export interface SchedulerOptions {
  /** Starts one run (the runner). */
  start(module: LoadedModule, timeoutMs: number): Run;
  /** A run finished or timed out. */
  onResult(module: LoadedModule, result: RunResult): void;
  /** A tick was skipped because the previous run had not settled. */
  onOverrun(module: LoadedModule): void;
  /** Default: the system clock. */
  clock?: Clock;
}

interface Entry {
  module: LoadedModule;
  schedule: Schedule;
  timer?: unknown;
  /** The result of the run in flight, until it is delivered. */
  pending?: Promise<RunResult>;
  /** True until the call in flight has settled, even after it was abandoned. */
  busy: boolean;
  nextAt: number;
}

export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  readonly #settling = new Set<Promise<void>>();

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** Schedules `module`, replacing any module of the same name. Interval modules run now. */
  add(module: LoadedModule, schedule: Schedule): void {
    this.remove(module.name);
    const entry: Entry = { module, schedule, busy: false, nextAt: this.#clock.now() };
    this.#entries.set(module.name, entry);
    if (schedule.intervalMs > 0) this.#tick(entry);
  }

  remove(name: string): void {
    const entry = this.#entries.get(name);
    if (!entry) return;
    if (entry.timer !== undefined) this.#clock.clearTimeout(entry.timer);
    this.#entries.delete(name);
  }

  /** Runs every scrape-time module and waits for them, at most `capMs` each when given. */
  async collectScrapeTime(capMs?: number): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (const entry of this.#entries.values()) {
      if (entry.schedule.intervalMs > 0) continue;
      // A concurrent scrape shares the run in flight; an abandoned call is an overrun.
      const pending = entry.pending ?? (entry.busy ? undefined : this.#run(entry));
      if (!pending) {
        this.#options.onOverrun(entry.module);
        continue;
      }
      waits.push(capMs === undefined ? pending : this.#within(pending, capMs));
    }
    await Promise.all(waits);
  }

  /** Stops every timer and waits up to `graceMs` for calls in flight to settle. */
  async close(graceMs = 0): Promise<void> {
    for (const name of [...this.#entries.keys()]) this.remove(name);
    if (this.#settling.size > 0 && graceMs > 0) {
      await this.#within(Promise.all(this.#settling), graceMs);
    }
  }

  #tick(entry: Entry): void {
    if (this.#entries.get(entry.module.name) !== entry) return;
    if (entry.busy) this.#options.onOverrun(entry.module);
    else this.#run(entry);
    // Ticks stay on the grid of the first run, so a slow run does not shift later ones.
    const now = this.#clock.now();
    const { intervalMs } = entry.schedule;
    entry.nextAt += intervalMs * Math.max(1, Math.ceil((now - entry.nextAt) / intervalMs));
    entry.timer = this.#clock.setTimeout(() => this.#tick(entry), Math.max(0, entry.nextAt - now));
  }

  #run(entry: Entry): Promise<RunResult> {
    const { module, schedule } = entry;
    entry.busy = true;
    const run = this.#options.start(module, schedule.timeoutMs);
    const pending = run.result.then((result) => {
      entry.pending = undefined;
      if (this.#entries.get(module.name) === entry) this.#options.onResult(module, result);
      return result;
    });
    entry.pending = pending;
    const settled = run.settled.then(() => {
      entry.busy = false;
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
