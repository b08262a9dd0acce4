/**
 * Tells when the metrics dir may have changed. Deno.watchFs on Linux gives 1-7 events per
 * save, only `rename` for an atomic save, one `rescan` for an overflow, and dies silently
 * when the dir is deleted or replaced. So events only trigger a debounced rescan (the caller
 * compares content hashes), the dir's identity is polled to re-arm the watch, and a periodic
 * rescan is the safety net.
 *
 * A FIFO in the dir wedges Deno.watchFs for the whole process (Deno 2.9.6): for each event
 * the watch thread opens the event's path to compare it with the watched dir, and opening a
 * FIFO waits for a writer, holding a lock that Deno.watchFs() and FsWatcher.close() then wait
 * on for ever, on the main thread. So the dir is checked for FIFOs with its identity; once one
 * is seen, the watch is left alone for good and the dir's listing is polled instead.
 */

import { basename, join, resolve } from "node:path";
import type { Logger } from "../log.ts";
import { moduleName } from "./scan.ts";

/** Why onChange was called: file events (or the dir coming back), or the periodic rescan. */
export type ChangeCause = "events" | "periodic";

export interface DirWatcherOptions {
  /** Called, debounced, whenever the dir may have changed. */
  onChange(cause: ChangeCause): void;
  log: Logger;
  /** Quiet time after the last event before onChange. Default 150. */
  debounceMs?: number;
  /** Longest wait from a batch's first event to onChange, however often events come. Default 1000. */
  maxWaitMs?: number;
  /** How often the dir's identity is checked (deleted, replaced, back), and FIFOs looked for. Default 1000. */
  checkMs?: number;
  /** Periodic onChange regardless of events. Default 30000. */
  rescanMs?: number;
}

type Identity = string | undefined;

/**
 * Whether an event can change what the scan finds. A path that cannot be a module (a `.py`, an
 * editor's swap file) is left out, so a file rewritten every 100 ms cannot keep a batch open.
 * Subdirectories are left out too: the watch is not recursive, so an edit inside one is never
 * reported anyway; a helper is only re-read when its module reloads; and a module that failed
 * for want of a helper is retried by the periodic rescan, not by an event.
 */
function concerns(event: Deno.FsEvent, dir: string): boolean {
  if (event.flag === "rescan" || event.paths.length === 0) return true;
  return event.paths.some((path) => path === dir || moduleName(basename(path)) !== undefined);
}

/** A FIFO directly inside `dir`, itself or behind a symlink; undefined if none (or `dir` is gone). */
async function findFifo(dir: string): Promise<string | undefined> {
  try {
    for await (const entry of Deno.readDir(dir)) {
      // readDir's entries say neither FIFO nor device: anything that is not a plain file or dir is looked at.
      if (entry.isFile || entry.isDirectory) continue;
      const path = join(dir, entry.name);
      const info = await (entry.isSymlink ? Deno.stat(path) : Deno.lstat(path)).catch(() => undefined);
      if (info?.isFifo) return path;
    }
  } catch {
    // Gone or unreadable: the identity check reports it.
  }
  return undefined;
}

/**
 * What the polling fallback compares: the dir's own mtime, then each module file's name, inode,
 * size and mtime. The dir's mtime moves with every create, delete and rename in it, so a module
 * written and deleted between two polls (and loaded by a rescan in between) still differs from
 * the earlier listing (issue 18, defect 6: it stayed served for good).
 */
async function listing(dir: string): Promise<string> {
  const lines: string[] = [];
  try {
    const self = await Deno.stat(dir);
    lines.push(`\0${self.mtime?.getTime()}\0${self.ctime?.getTime()}`);
    for await (const entry of Deno.readDir(dir)) {
      if (moduleName(entry.name) === undefined) continue;
      const info = await Deno.stat(join(dir, entry.name)).catch(() => undefined);
      lines.push(`${entry.name}\0${info?.ino}\0${info?.size}\0${info?.mtime?.getTime()}`);
    }
  } catch {
    return "";
  }
  return lines.sort().join("\n");
}

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
  /** performance.now() of the first event of the batch the debounce is holding. */
  #batchStart: number | undefined;
  /** A FIFO was seen in the dir: the watch may be wedged, never touch it again; poll instead. */
  #polling = false;
  #listing: string | undefined;
  #checkTimer: ReturnType<typeof setInterval> | undefined;
  #rescanTimer: ReturnType<typeof setInterval> | undefined;
  #loop: Promise<void> | undefined;
  #checking: Promise<void> | undefined;
  #closed = false;

  constructor(dir: string, options: DirWatcherOptions) {
    this.#dir = dir;
    this.#options = { debounceMs: 150, maxWaitMs: 1000, checkMs: 1000, rescanMs: 30_000, ...options };
  }

  async start(): Promise<void> {
    this.#identity = await identity(this.#dir);
    await this.#lookForFifo();
    if (this.#identity && !this.#polling) this.#arm();
    this.#checkTimer = setInterval(() => this.#check(), this.#options.checkMs);
    this.#rescanTimer = setInterval(() => this.#options.onChange("periodic"), this.#options.rescanMs);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#checkTimer);
    clearInterval(this.#rescanTimer);
    clearTimeout(this.#debounce);
    await this.#checking;
    // A FIFO made since the last check would make close() wait for ever: look once more.
    await this.#lookForFifo();
    if (this.#polling) return; // the watch and its loop are abandoned, see the top of the file
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
          } else if (concerns(event, self)) this.#changed();
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

  /** Debounces onChange, but fires at most maxWaitMs after the batch's first event (issue 8). */
  #changed(): void {
    clearTimeout(this.#debounce);
    const now = performance.now();
    this.#batchStart ??= now;
    const { debounceMs, maxWaitMs } = this.#options;
    const delay = Math.max(0, Math.min(debounceMs, this.#batchStart + maxWaitMs - now));
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined;
      this.#batchStart = undefined;
      if (!this.#closed) this.#options.onChange("events");
    }, delay);
  }

  #check(): Promise<void> {
    this.#checking ??= (async () => {
      await this.#checkOnce();
      await this.#lookForFifo();
      await this.#poll();
    })().finally(() => this.#checking = undefined);
    return this.#checking;
  }

  async #lookForFifo(): Promise<void> {
    if (this.#polling || this.#closed) return;
    const fifo = await findFifo(this.#dir);
    if (fifo === undefined || this.#polling) return;
    this.#polling = true;
    // The first listing, before the rescan below: what changes after it must tell at the next poll.
    this.#listing = await listing(this.#dir);
    this.#options.log.warn("metrics dir holds a FIFO, which wedges file events; polling the dir instead", {
      dir: this.#dir,
      file: fifo,
      every: `${this.#options.checkMs}ms`,
    });
    // Events may have stopped before the FIFO was seen.
    this.#changed();
  }

  async #poll(): Promise<void> {
    if (!this.#polling || this.#closed) return;
    const now = await listing(this.#dir);
    if (this.#listing !== undefined && now !== this.#listing && !this.#closed) this.#changed();
    this.#listing = now;
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
    if (this.#polling) {
      if (now !== undefined) this.#changed();
      return;
    }
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
