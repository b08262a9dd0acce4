/**
 * Host deaths blamed on a probe's target (issue 20). A probe that loops or runs its host out of
 * memory is handled as a run is (the host is killed and restarted), but the target, not the
 * module, is what made it: one URL that sends a huge body or a never-ending stream should not
 * quarantine a module that probes a thousand others well. A target whose probes ended the host
 * TARGET_DEATHS_TO_REFUSE times in a row is refused for TARGET_REFUSAL_MS, then tried again.
 */

/** Host deaths in a row (no probe of the target answered between) that refuse a target. */
export const TARGET_DEATHS_TO_REFUSE = 3;
/**
 * How long a refused target stays refused. Long enough that a bad target scraped every 15 s
 * costs a host restart every few minutes at most, not every scrape; short enough that a fixed
 * target comes back without a reload.
 */
export const TARGET_REFUSAL_MS = 5 * 60_000;
/**
 * (module, target) pairs kept, blamed or refused, least recently blamed out first. Entries come
 * only from host deaths, which the restart backoff slows: this is far more than minutes bring.
 */
export const TARGET_BLAMES_KEPT = 1024;

/** A refused target: for how much longer, and why. */
export interface TargetRefusal {
  remainingMs: number;
  /** The last death's reason: `stopped answering for 2s (...)`. */
  reason: string;
  /** Host deaths in a row that refused it. */
  deaths: number;
}

export interface TargetBlameOptions {
  /** Milliseconds, monotonic (default performance.now). */
  now?: () => number;
  /** Default TARGET_REFUSAL_MS. */
  refusalMs?: number;
  /** Default TARGET_BLAMES_KEPT. */
  kept?: number;
}

interface Entry {
  deaths: number;
  refused?: { until: number; reason: string };
}

export class TargetBlame {
  readonly #now: () => number;
  readonly #refusalMs: number;
  readonly #kept: number;
  /** By key(module, target), least recently blamed first. */
  readonly #entries = new Map<string, Entry>();

  constructor(options: TargetBlameOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#refusalMs = options.refusalMs ?? TARGET_REFUSAL_MS;
    this.#kept = options.kept ?? TARGET_BLAMES_KEPT;
  }

  /** How long a refusal lasts, for messages. */
  get refusalMs(): number {
    return this.#refusalMs;
  }

  /**
   * A host ended while a probe of `target` by `module` ran: counts it, and returns the refusal
   * when this death is the one that refuses the target.
   */
  blame(module: string, target: string, reason: string): TargetRefusal | undefined {
    const k = key(module, target);
    const entry = this.#current(k) ?? { deaths: 0 };
    // A probe that began before the refusal may still end a host: the refusal stands as it is.
    if (entry.refused) return undefined;
    entry.deaths++;
    this.#entries.delete(k);
    this.#entries.set(k, entry);
    for (const old of this.#entries.keys()) {
      if (this.#entries.size <= this.#kept) break;
      this.#entries.delete(old);
    }
    if (entry.deaths < TARGET_DEATHS_TO_REFUSE) return undefined;
    entry.refused = { until: this.#now() + this.#refusalMs, reason };
    return { remainingMs: this.#refusalMs, reason, deaths: entry.deaths };
  }

  /** A probe of `target` answered (well or not): it did not end its host, and starts afresh. */
  answered(module: string, target: string): void {
    const k = key(module, target);
    if (this.#entries.get(k)?.refused === undefined) this.#entries.delete(k);
  }

  /** Whether `target` is refused for `module` now. */
  refusal(module: string, target: string): TargetRefusal | undefined {
    const entry = this.#current(key(module, target));
    if (!entry?.refused) return undefined;
    const { until, reason } = entry.refused;
    return { remainingMs: until - this.#now(), reason, deaths: entry.deaths };
  }

  /** The entry, dropped once its refusal has run out: the target is tried again from zero. */
  #current(k: string): Entry | undefined {
    const entry = this.#entries.get(k);
    if (entry?.refused && this.#now() >= entry.refused.until) {
      this.#entries.delete(k);
      return undefined;
    }
    return entry;
  }
}

function key(module: string, target: string): string {
  return JSON.stringify([module, target]);
}
