/**
 * When each module's values become too old to serve (issue 19): a module's `maxAge` (or
 * --collect.max-age) counts from its last successful run; once it has passed, onStale fires, and
 * nothing more until the next success re-arms it. A timer per module, not a sweep: a module of
 * maxAge "1h" costs nothing between its runs.
 */

import { type Clock, systemClock } from "./scheduler.ts";

export interface StaleTimersOptions {
  /** The module's last success is now older than its maxAge. */
  onStale(name: string): void;
  /** Default: the system clock. */
  clock?: Clock;
}

interface Entry {
  /** 0: off. */
  maxAgeMs: number;
  /** Clock time of the last success, if any. */
  succeededAt?: number;
  timer?: unknown;
  stale: boolean;
}

export class StaleTimers {
  readonly #options: StaleTimersOptions;
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();

  constructor(options: StaleTimersOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  /**
   * Sets the module's maxAge (0: off), counted from its last success, which a new version of
   * the module keeps: the previous version's values serve until the new one succeeds.
   */
  configure(name: string, maxAgeMs: number): void {
    const entry = this.#entries.get(name) ?? { maxAgeMs, stale: false };
    entry.maxAgeMs = maxAgeMs;
    this.#entries.set(name, entry);
    this.#arm(name, entry);
  }

  /** A run of the module succeeded now: its values are fresh again. */
  succeeded(name: string): void {
    const entry = this.#entries.get(name);
    if (!entry) return;
    entry.succeededAt = this.#clock.now();
    entry.stale = false;
    this.#arm(name, entry);
  }

  /** Whether the module's last success is older than its maxAge. */
  isStale(name: string): boolean {
    return this.#entries.get(name)?.stale ?? false;
  }

  remove(name: string): void {
    const entry = this.#entries.get(name);
    if (entry?.timer !== undefined) this.#clock.clearTimeout(entry.timer);
    this.#entries.delete(name);
  }

  close(): void {
    for (const name of [...this.#entries.keys()]) this.remove(name);
  }

  #arm(name: string, entry: Entry): void {
    if (entry.timer !== undefined) this.#clock.clearTimeout(entry.timer);
    entry.timer = undefined;
    // Never succeeded: nothing of it is served, so nothing can be too old.
    if (entry.maxAgeMs === 0 || entry.succeededAt === undefined || entry.stale) return;
    const delay = Math.max(0, entry.succeededAt + entry.maxAgeMs - this.#clock.now());
    entry.timer = this.#clock.setTimeout(() => {
      if (this.#entries.get(name) !== entry) return;
      entry.timer = undefined;
      entry.stale = true;
      this.#options.onStale(name);
    }, delay);
  }
}
