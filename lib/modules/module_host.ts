/** The seam between the exporter and the way module code is run: in a module host process (lib/supervisor/), or, inside a host, in its isolate (in_process_host.ts). */

import type { MetricFamily } from "../exposition/format.ts";
import type { ProcessContext } from "../module_api.ts";

// The types module authors import as "dynamic_exporter" (lib/module_api.ts) are the ones used here.
export type { ModuleLog, ProcessContext } from "../module_api.ts";

/** One successfully loaded version of a module file. */
export interface LoadedModule {
  readonly name: string;
  /** The file as found in the metrics dir. */
  readonly file: string;
  /** The file: URL it was imported from (its real path), without the cache-busting query. */
  readonly url: string;
  /** Bumps on every load; results of an older version are stale. */
  readonly version: number;
  /** The module's own `interval` export, if any. */
  readonly intervalMs?: number;
  /** The module's own `timeout` export, if any. */
  readonly timeoutMs?: number;
  /** The module's own `maxAge` export, if any: past it since the last success, nothing of it is served. */
  readonly maxAgeMs?: number;
  /**
   * The local files the module imports, when a change to one must reload it (a sandboxed
   * module: a host imports them afresh only in a new process; an import is cached for the process's life).
   */
  readonly helpers?: readonly string[];
  /** It exports probe() and no process() (issue 20): it is not scheduled, only probed. */
  readonly probeOnly?: boolean;
  /** Why no run of this version can start any more (quarantined: its runs ended its host too often), if so. */
  readonly quarantined?: string;
  /**
   * Starts process(ctx). A synchronous part that runs longer than `timeoutMs` throws a
   * timeout error; an async part returns a promise.
   */
  invoke(ctx: ProcessContext, timeoutMs: number): unknown;
  /** Names of the metrics this version owns now. */
  metricNames(): string[];
  /** True when some metric computes its value at render time (a collect() callback). */
  isDynamic(): boolean;
  /** The module's metric families as they are now. */
  families(): Promise<MetricFamily[]>;
}

export interface ModuleHost {
  /**
   * Loads `file` as module `name`, replacing `previous` when given. On failure throws
   * ModuleLoadError and `previous` keeps serving, its metrics intact.
   */
  load(name: string, file: string, previous?: LoadedModule): Promise<LoadedModule>;
  /**
   * Calls the version's dispose() (bounded by `timeoutMs`) and retires the version: what it
   * registered meanwhile goes with it, and it cannot register anything later.
   */
  dispose(module: LoadedModule, timeoutMs: number): Promise<void>;
  /** Removes the version's metrics. */
  release(module: LoadedModule): void;
  /** Ends what the host keeps running (its processes, timers), after every module was released. */
  close?(): void;
}

/** A module file that could not be loaded; `message` names the module and the reason. */
export class ModuleLoadError extends Error {
  /** Set when the file is quarantined (its runs ended its host too often): why. */
  quarantined?: string;

  constructor(
    readonly module: string,
    readonly file: string,
    readonly reason: string,
    readonly line?: number,
    readonly column?: number,
    readonly hint?: string,
    options?: ErrorOptions,
  ) {
    super(`Cannot load module "${module}" (${file}${line ? `:${line}` : ""}): ${reason}`, options);
    this.name = "ModuleLoadError";
  }
}
