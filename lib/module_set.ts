/**
 * The loaded modules, kept in step with the metrics dir: what to load, reload and unload after a
 * scan, which version is served, and how run and render outcomes become each module's status
 * and log lines. The composition root (exporter.ts) wires it to the scheduler and the exposition.
 */

import type { Logger } from "./log.ts";
import type { Exposition } from "./exposition/exposition.ts";
import { type LoadedModule, type ModuleHost, ModuleLoadError } from "./modules/module_host.ts";
import type { RunResult } from "./schedule/runner.ts";
import { scanDir } from "./modules/scan.ts";
import { MAX_ABANDONED, type OverrunReason, type Scheduler, STUCK_HINT } from "./schedule/scheduler.ts";
import type { ModuleStatus, StatusBoard } from "./status.ts";
import { describeError } from "./modules/describe_error.ts";
import { formatDuration } from "./duration.ts";
import type { IgnoredFiles } from "./modules/ignored_files.ts";
import { helperSignature } from "./modules/local_imports.ts";
import { StaleTimers } from "./schedule/stale_timers.ts";
import type { Clock } from "./schedule/scheduler.ts";
import type { RunHistory } from "./run_history.ts";

export interface SyncOptions {
  reloadAll?: boolean;
  retryFailed?: boolean;
}

interface Entry {
  name: string;
  file: string;
  hash: string;
  module?: LoadedModule;
  /** The last load of the file failed (a previous version may still be serving). */
  loadFailed: boolean;
  /** The version whose series are served live; undefined before its first success (a previous version's last values may be served frozen meanwhile). */
  serving?: LoadedModule;
  /** A load of the file is in progress: results of the version it replaces leave what is served alone. */
  reloading?: boolean;
  runOk: boolean;
  renderFailed: boolean;
  /** What the module's helper files looked like when it loaded (see helperSignature). */
  helpers?: string;
}

/** How often the helper files modules import are checked for a change (an edited helper is served within about 2 s). */
const HELPER_CHECK_MS = 500;

function logFields(d: { message: string; file: string; line?: number; column?: number; hint?: string }) {
  return { file: d.file, line: d.line, column: d.column, err: d.message, hint: d.hint };
}

export interface ModuleSetOptions {
  metricsDir: string;
  /** --collect.interval and --collect.timeout, for modules that do not set their own. */
  collectIntervalMs: number;
  collectTimeoutMs: number;
  /** --collect.max-age, for modules that do not export maxAge; 0: off. Default 0. */
  collectMaxAgeMs?: number;
  /** The clock of the maxAge timers. Default: the system clock. */
  clock?: Clock;
  /** Each module's last runs: a run's record is closed with its result, and a module's dropped with it. */
  history?: Pick<RunHistory, "end" | "delete">;
  host: ModuleHost;
  scheduler: Pick<Scheduler, "add" | "remove" | "close" | "runSoon">;
  /** Where and with what a loaded module runs, for the status page. */
  describeHost?(module: LoadedModule): ModuleStatus["host"];
  exposition: Pick<Exposition, "freeze" | "set" | "delete" | "invalidate" | "has">;
  board: StatusBoard;
  ignored: IgnoredFiles;
  log: Logger;
}

export class ModuleSet {
  readonly #config: ModuleSetOptions;
  readonly #log: Logger;
  readonly #host: ModuleHost;
  readonly #board: StatusBoard;
  readonly #scheduler: ModuleSetOptions["scheduler"];
  readonly #exposition: ModuleSetOptions["exposition"];
  readonly #ignored: IgnoredFiles;
  readonly #entries = new Map<string, Entry>();
  #syncing: Promise<void> | undefined;
  #syncAgain: SyncOptions | undefined;
  #closed = false;
  #helperTimer: ReturnType<typeof setInterval> | undefined;
  /** Work close() may wait for, e.g. `dispose() of "a"`, with how many of each are in flight. */
  readonly #inFlight = new Map<string, number>();
  readonly #stale: StaleTimers;

  constructor(options: ModuleSetOptions) {
    this.#stale = new StaleTimers({ clock: options.clock, onStale: (name) => this.#onStale(name) });
    this.#config = options;
    this.#log = options.log;
    this.#host = options.host;
    this.#board = options.board;
    this.#scheduler = options.scheduler;
    this.#exposition = options.exposition;
    this.#ignored = options.ignored;
  }

  /**
   * Brings the loaded modules in step with the dir. `reloadAll` reloads unchanged files too;
   * `retryFailed` reloads unchanged files whose last load failed.
   */
  sync(options: SyncOptions = {}): Promise<void> {
    if (this.#syncing) {
      const again = this.#syncAgain ?? {};
      this.#syncAgain = {
        reloadAll: again.reloadAll || options.reloadAll,
        retryFailed: again.retryFailed || options.retryFailed,
      };
      return this.#syncing;
    }
    this.#syncing = (async () => {
      let next: SyncOptions | undefined = options;
      while (next && !this.#closed) {
        this.#syncAgain = undefined;
        await this.#syncOnce(next);
        next = this.#syncAgain;
      }
    })().finally(() => this.#syncing = undefined);
    return this.#syncing;
  }

  /** The loaded version of module `name`, if any. */
  loaded(name: string): LoadedModule | undefined {
    return this.#entries.get(name)?.module;
  }

  /** What close() is still waiting for (a load, process() and dispose() calls), by module. */
  pending(): string[] {
    return [...this.#inFlight.keys()].sort();
  }

  /** Counts a process() call in pending() until it settles. */
  trackRun(module: LoadedModule, settled: Promise<void>): void {
    this.#track(`process() of "${module.name}"`, settled);
  }

  /** Stops syncing, lets runs in flight settle (up to the collect timeout), then disposes every module at once. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#helperTimer);
    this.#stale.close();
    await this.#syncing;
    // dispose() must not pull resources from under a process() still running: give runs in
    // flight up to the collect timeout to settle first.
    await this.#scheduler.close(this.#config.collectTimeoutMs);
    // At once: shutdown has one deadline (main.ts), and one hanging dispose() must not hold
    // up the others.
    await Promise.all([...this.#entries.values()].map((entry) => entry.module && this.#retire(entry.module)));
    this.#entries.clear();
    this.#host.close?.();
  }

  async #syncOnce({ reloadAll = false, retryFailed = false }: SyncOptions): Promise<void> {
    let scan;
    try {
      scan = await scanDir(this.#config.metricsDir);
    } catch (err) {
      // A missing dir keeps the modules serving; the watcher says when it is back.
      if (!(err instanceof Deno.errors.NotFound)) {
        this.#log.error("cannot read metrics dir", { dir: this.#config.metricsDir, err });
      }
      return;
    }
    this.#ignored.update(scan.ignored);
    for (const { file, by } of scan.shadowed) {
      this.#log.warn("file ignored: another file has the same module name", { file, by });
    }
    for (const file of scan.files.values()) {
      if (this.#closed) return;
      const entry = this.#entries.get(file.name);
      if (!entry) {
        await this.#load({
          name: file.name,
          file: file.path,
          hash: file.hash,
          loadFailed: false,
          runOk: false,
          renderFailed: false,
        }, file.error);
      } else if (
        entry.hash !== file.hash || entry.file !== file.path || reloadAll ||
        (retryFailed && entry.loadFailed) ||
        await this.#helpersChanged(entry)
      ) {
        entry.hash = file.hash;
        entry.file = file.path;
        await this.#load(entry, file.error);
      }
    }
    for (const entry of [...this.#entries.values()]) {
      if (!scan.files.has(entry.name)) await this.#unload(entry);
    }
  }

  async #helpersChanged(entry: Entry): Promise<boolean> {
    const helpers = entry.module?.helpers;
    return helpers !== undefined && helpers.length > 0 && await helperSignature(helpers) !== entry.helpers;
  }

  /** A helper of a sandboxed module changed: sync, which reloads its importers. */
  async #checkHelpers(): Promise<void> {
    for (const entry of this.#entries.values()) {
      if (await this.#helpersChanged(entry)) {
        this.#log.info("a helper file changed; reloading its importers", { module: entry.name });
        await this.sync();
        return;
      }
    }
  }

  /** `readError`: the scan could not read the file (issue 8): a load failure without an import. */
  async #load(entry: Entry, readError?: string): Promise<void> {
    const { name, file } = entry;
    this.#entries.set(name, entry);
    this.#board.ensure(name, file);
    const previous = entry.module;
    // The previous version's last served values keep serving until the new version's first
    // success: a reload must not turn them into the new version's fresh zeros (issue 7).
    const frozen = previous !== undefined && entry.serving === previous;
    if (frozen) {
      entry.serving = undefined;
      await this.#exposition.freeze(name);
    }
    let module: LoadedModule;
    entry.reloading = true;
    try {
      if (readError !== undefined) throw new ModuleLoadError(name, file, readError);
      module = await this.#track(`load of "${name}"`, this.#host.load(name, file, previous));
    } catch (err) {
      if (frozen && entry.module === previous) {
        entry.serving = previous;
        this.#exposition.set(previous);
      }
      entry.loadFailed = true;
      const e = err instanceof ModuleLoadError ? err : new ModuleLoadError(name, file, String(err));
      this.#log.error("module load failed", {
        module: name,
        file,
        line: e.line,
        column: e.column,
        err: e.reason,
        hint: e.hint,
        serving: previous ? "previous version" : "nothing",
      });
      this.#board.update(name, (s) => {
        s.file = file;
        s.lastLoadSuccessful = false;
        s.reloads.failure++;
        s.quarantined = e.quarantined;
        if (e.quarantined) s.up = false;
        s.lastError = { stage: "load", message: e.reason, file, line: e.line, hint: e.hint, at: Date.now() };
        if (!previous) s.up = false;
      });
      return;
    } finally {
      entry.reloading = false;
    }
    entry.module = module;
    entry.helpers = module.helpers?.length ? await helperSignature(module.helpers) : undefined;
    if (entry.helpers !== undefined) {
      this.#helperTimer ??= setInterval(() => this.#checkHelpers(), HELPER_CHECK_MS);
    }
    entry.loadFailed = false;
    entry.runOk = false;
    entry.renderFailed = false;
    const intervalMs = module.intervalMs ?? this.#config.collectIntervalMs;
    const timeoutMs = module.timeoutMs ?? this.#config.collectTimeoutMs;
    const maxAgeMs = module.maxAgeMs ?? this.#config.collectMaxAgeMs ?? 0;
    this.#board.update(name, (s) => {
      s.maxAgeMs = maxAgeMs;
      s.file = file;
      s.loaded = true;
      s.lastLoadSuccessful = true;
      s.reloads.success++;
      s.intervalMs = intervalMs;
      s.timeoutMs = timeoutMs;
      s.metricNames = module.metricNames();
      s.host = this.#config.describeHost?.(module);
      // A probe-only module has no run to wait for: its probes count in probes_total.
      s.up = module.probeOnly === true;
      s.probeOnly = module.probeOnly === true;
      s.stuck = false;
      s.quarantined = undefined;
      s.servingPrevious = this.#exposition.has(name);
      if (s.lastError?.stage === "load") s.lastError = undefined;
    });
    this.#log.info(previous ? "module reloaded" : "module loaded", {
      module: name,
      file,
      interval: intervalMs === 0 ? "at scrape" : formatDuration(intervalMs),
    });
    this.#stale.configure(name, maxAgeMs);
    if (module.probeOnly) this.#scheduler.remove(name);
    else this.#scheduler.add(module, { intervalMs, timeoutMs });
    if (previous) await this.#dispose(previous);
  }

  async #unload(entry: Entry): Promise<void> {
    this.#entries.delete(entry.name);
    this.#scheduler.remove(entry.name);
    this.#stale.remove(entry.name);
    this.#config.history?.delete(entry.name);
    this.#exposition.delete(entry.name);
    this.#board.delete(entry.name);
    if (entry.module) await this.#retire(entry.module);
    this.#log.info("module unloaded", { module: entry.name, file: entry.file });
  }

  /** dispose() then drop the version's metrics. */
  async #retire(module: LoadedModule): Promise<void> {
    await this.#dispose(module);
    this.#host.release(module);
  }

  async #dispose(module: LoadedModule): Promise<void> {
    try {
      await this.#track(
        `dispose() of "${module.name}"`,
        this.#host.dispose(module, module.timeoutMs ?? this.#config.collectTimeoutMs),
      );
    } catch (err) {
      this.#log.warn("module dispose() failed", {
        module: module.name,
        ...logFields(this.#describe(err, module)),
      });
    }
  }

  /** Counts `work` in pending() until it settles. */
  #track<T>(label: string, work: Promise<T>): Promise<T> {
    this.#inFlight.set(label, (this.#inFlight.get(label) ?? 0) + 1);
    const done = () => {
      const left = this.#inFlight.get(label)! - 1;
      if (left === 0) this.#inFlight.delete(label);
      else this.#inFlight.set(label, left);
    };
    work.then(done, done);
    return work;
  }

  /** A run finished or timed out: what is served, the status and the log line. */
  onResult(module: LoadedModule, result: RunResult): void {
    const { name } = module;
    const entry = this.#entries.get(name);
    if (entry?.module !== module) return;
    this.#config.history?.end(name, result);
    const failed = result.outcome !== "success";
    // A success of the version being replaced serves nothing new (its values are frozen): the
    // served values are no fresher for it.
    if (!failed && !entry.reloading) this.#stale.succeeded(name);
    // Served from the first success on; a failed run's partial updates are not served (issue 7).
    if (entry.reloading) {
      // The version being replaced: its values are frozen, or restored if the load fails.
    } else if (!failed && entry.serving !== module) {
      entry.serving = module;
      this.#exposition.set(module);
    } else if (!failed) this.#exposition.invalidate(name);
    if (failed) {
      const details = this.#describe(result.error, module);
      this.#log.warn("module run failed", {
        module: name,
        outcome: result.outcome,
        duration_seconds: result.durationSeconds,
        ...logFields(details),
      });
      this.#board.update(name, (s) => {
        s.errors[result.outcome as "error" | "timeout"]++;
        s.lastCountedAt[result.outcome as "error" | "timeout"] = Date.now();
        s.lastError = { stage: "run", at: Date.now(), ...details };
      });
    } else {
      this.#log.debug("module run", { module: name, duration_seconds: result.durationSeconds });
    }
    entry.runOk = !failed;
    this.#board.update(name, (s) => {
      s.lastRunAt = result.startedAt;
      s.lastDurationSeconds = result.durationSeconds;
      s.up = entry.runOk && !entry.renderFailed;
      s.stuck = false;
      s.quarantined = module.quarantined;
      s.host = this.#config.describeHost?.(module);
      s.servingPrevious = entry.serving !== module && this.#exposition.has(name);
      s.metricNames = module.metricNames();
      if (!failed) {
        if (!entry.reloading) s.expired = false;
        s.lastSuccessAt = result.startedAt + result.durationSeconds * 1000;
        if (s.lastError?.stage === "run") s.lastError = undefined;
      }
    });
  }

  /**
   * These modules' host ended: they are down until they run in its successor, which they do
   * at once. What they served stays served.
   */
  onHostDown(names: string[]): void {
    for (const name of names) {
      const entry = this.#entries.get(name);
      // A probe-only module imports again at its next probe; its probes say how it does.
      if (!entry?.module || entry.module.probeOnly) continue;
      entry.runOk = false;
      this.#board.update(name, (s) => {
        s.up = false;
        s.host = entry.module && this.#config.describeHost?.(entry.module);
      });
      this.#scheduler.runSoon(name);
    }
  }

  /** A module was quarantined: it runs no more until its file or a helper changes; its last values stay served. */
  onQuarantine(name: string, reason: string): void {
    const entry = this.#entries.get(name);
    if (!entry?.module) return;
    this.#scheduler.remove(name);
    entry.runOk = false;
    this.#board.update(name, (s) => {
      s.up = false;
      s.quarantined = reason;
    });
  }

  /**
   * The module's last success is older than its maxAge: its series (a previous version's frozen
   * ones too) are no longer served, until its next success serves them again. Its self-metrics stay.
   */
  #onStale(name: string): void {
    const entry = this.#entries.get(name);
    if (!entry) return;
    entry.serving = undefined;
    this.#exposition.delete(name);
    let fields: Record<string, unknown> = {};
    this.#board.update(name, (s) => {
      s.expired = true;
      s.up = false;
      s.servingPrevious = false;
      fields = {
        max_age: s.maxAgeMs === undefined ? undefined : formatDuration(s.maxAgeMs),
        last_success: s.lastSuccessAt === undefined ? undefined : new Date(s.lastSuccessAt),
      };
    });
    this.#log.warn("module values older than its maxAge; no longer served", { module: name, ...fields });
  }

  /** A tick did not start a run. */
  onOverrun(module: LoadedModule, reason: OverrunReason): void {
    const { name } = module;
    let wasStuck = false;
    this.#board.update(name, (s) => {
      wasStuck = s.stuck;
      s.overruns++;
      s.lastCountedAt.overrun = Date.now();
      s.stuck = reason === "stuck";
      if (s.stuck) s.up = false;
    });
    if (reason === "running") {
      this.#log.warn("module run skipped: previous run still in progress", { module: name });
    } else if (!wasStuck) {
      this.#log.error("module stuck: process() calls abandoned at their timeout are still running", {
        module: name,
        abandoned: MAX_ABANDONED,
        hint: STUCK_HINT,
      });
    }
  }

  /** A module's families failed to render (err) or rendered again (undefined). */
  onRender(name: string, err?: unknown): void {
    const entry = this.#entries.get(name);
    if (!entry?.module || entry.renderFailed === (err !== undefined)) return;
    entry.renderFailed = err !== undefined;
    if (err === undefined) {
      this.#board.update(name, (s) => {
        s.up = entry.runOk;
        if (s.lastError?.stage === "render") s.lastError = undefined;
      });
      return;
    }
    const details = this.#describe(err, entry.module);
    this.#log.warn("module metrics failed to render; its families are left out", {
      module: name,
      ...logFields(details),
    });
    this.#board.update(name, (s) => {
      s.up = false;
      s.lastError = { stage: "render", at: Date.now(), ...details };
    });
  }

  #describe(err: unknown, module: LoadedModule) {
    const { message, line, column, hint } = describeError(err, module.url);
    return { message, line, column, hint, file: module.file };
  }
}
