/**
 * Tells when the metrics dir may have changed. Deno.watchFs on Linux gives 1-7 events per
 * save, only `rename` for an atomic save, one `rescan` for an overflow, and dies silently
 * when the dir is deleted or replaced. So events only trigger a debounced rescan (the caller
 * compares content hashes), the dir's identity is polled to re-arm the watch, and a periodic
 * rescan is the safety net.
 */

import { resolve } from "node:path";
import type { Logger } from "./log.ts";

/** Why onChange was called: file events (or the dir coming back), or the periodic rescan. */
export type ChangeCause = "events" | "periodic";

export interface DirWatcherOptions {
  /** Called, debounced, whenever the dir may have changed. */
  onChange(cause: ChangeCause): void;
  log: Logger;
  /** Quiet time after the last event before onChange. Default 150. */
  debounceMs?: number;
  /** How often the dir's identity is checked (deleted, replaced, back). Default 1000. */
  checkMs?: number;
  /** Periodic onChange regardless of events. Default 30000. */
  rescanMs?: number;
}

type Identity = string | undefined;

async function identity(dir: string): Promise<Identity> {
  try {
    const info = await Deno.stat(dir);
    // The birth time tells a dir re-created under the same inode number from the old one.
    return info.isDirectory ? `${info.dev}:${info.ino}:${info.birthtime?.getTime()}` : undefined;
  } catch {
    return undefined;
  }
}

export class DirWatcher {
  readonly #dir: string;
  readonly #options: Required<DirWatcherOptions>;
  #watcher: Deno.FsWatcher | undefined;
  #identity: Identity;
  /** The watch saw its own dir removed: it will report nothing more. */
  #watchDead = false;
  #debounce: ReturnType<typeof setTimeout> | undefined;
  #checkTimer: ReturnType<typeof setInterval> | undefined;
  #rescanTimer: ReturnType<typeof setInterval> | undefined;
  #loop: Promise<void> | undefined;
  #checking: Promise<void> | undefined;
  #closed = false;

  constructor(dir: string, options: DirWatcherOptions) {
    this.#dir = dir;
    this.#options = { debounceMs: 150, checkMs: 1000, rescanMs: 30_000, ...options };
  }

  async start(): Promise<void> {
    this.#identity = await identity(this.#dir);
    if (this.#identity) this.#arm();
    this.#checkTimer = setInterval(() => this.#check(), this.#options.checkMs);
    this.#rescanTimer = setInterval(() => this.#options.onChange("periodic"), this.#options.rescanMs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#checkTimer);
    clearInterval(this.#rescanTimer);
    clearTimeout(this.#debounce);
    await this.#checking;
    this.#disarm();
    await this.#loop;
  }

  #arm(): void {
    let watcher: Deno.FsWatcher;
    try {
      watcher = Deno.watchFs(this.#dir, { recursive: false });
    } catch (err) {
      this.#options.log.warn("cannot watch metrics dir; relying on periodic rescans", {
        dir: this.#dir,
        err,
      });
      return;
    }
    this.#watcher = watcher;
    this.#watchDead = false;
    const self = resolve(this.#dir);
    this.#loop = (async () => {
      try {
        for await (const event of watcher) {
          if (event.kind === "access") continue;
          if (event.kind === "remove" && event.paths.includes(self)) {
            this.#watchDead = true;
            this.#check();
          } else this.#changed();
        }
      } catch (err) {
        if (!this.#closed) this.#options.log.warn("metrics dir watch ended", { dir: this.#dir, err });
      }
    })();
  }

  #disarm(): void {
    try {
      this.#watcher?.close();
    } catch {
      // Already closed.
    }
    this.#watcher = undefined;
  }

  #changed(): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      if (!this.#closed) this.#options.onChange("events");
    }, this.#options.debounceMs);
  }

  #check(): Promise<void> {
    this.#checking ??= this.#checkOnce().finally(() => this.#checking = undefined);
    return this.#checking;
  }

  async #checkOnce(): Promise<void> {
    const now = await identity(this.#dir);
    if (this.#closed || (now === this.#identity && !this.#watchDead)) return;
    const log = this.#options.log;
    if (now === undefined) {
      log.warn("metrics dir is gone; serving the modules loaded so far", { dir: this.#dir });
    } else if (this.#identity === undefined || now === this.#identity) {
      log.info("metrics dir is back", { dir: this.#dir });
    } else log.info("metrics dir was replaced", { dir: this.#dir });
    this.#identity = now;
    this.#disarm();
    // Deno shares one OS watch per path until the old watcher's pending read ends: arming
    // before that would reuse the dead watch.
    await this.#loop;
    if (this.#closed) return;
    this.#watchDead = false;
    if (now !== undefined) {
      this.#arm();
      this.#changed();
    }
  }
}
