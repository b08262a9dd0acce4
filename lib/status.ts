/** What the exporter knows about each module: the source of self-metrics and the landing page. */

export interface ModuleError {
  /** Where it failed: loading the file, running process(), or rendering its metrics. */
  stage: "load" | "run" | "render";
  message: string;
  file: string;
  line?: number;
  hint?: string;
  /** ms since the epoch. */
  at: number;
}

export interface ModuleStatus {
  name: string;
  file: string;
  /** A version of the module is serving. */
  loaded: boolean;
  lastLoadSuccessful: boolean;
  /** The last run (and render) succeeded. */
  up: boolean;
  /** ms since the epoch. */
  lastRunAt?: number;
  lastDurationSeconds?: number;
  lastSuccessAt?: number;
  errors: { error: number; timeout: number };
  overruns: number;
  /**
   * When each count last went up, ms since the epoch: the status page colours a count only
   * while it is recent, not for an error of last week on a module that is healthy now.
   */
  lastCountedAt: { error?: number; timeout?: number; overrun?: number };
  reloads: { success: number; failure: number };
  lastError?: ModuleError;
  intervalMs?: number;
  timeoutMs?: number;
  metricNames: string[];
  /** Too many abandoned process() calls are still pending: runs are skipped until one settles. */
  stuck: boolean;
  /** Why the module is quarantined (its runs ended its host too often): it runs no more until its file or a helper changes. */
  quarantined?: string;
  /** Where the module runs: the shared host, a host of its own (sandboxed, or alone on probation), with what permissions, and its host's restarts. */
  host?: { placement: "shared" | "sandboxed" | "probation"; permissions: string; restarts: number };
  /** When the next run is due, ms since the epoch (interval modules). */
  nextRunAt?: number;
  /** That next run is a retry after a failure. */
  retrying?: boolean;
  /** A new version loaded but has not succeeded yet: the previous version's last values are served. */
  servingPrevious: boolean;
  /** The module's maxAge (its export, or --collect.max-age); 0 or undefined: off. */
  maxAgeMs?: number;
  /** Its last success is older than its maxAge: none of its series are served until the next success. */
  expired: boolean;
  /** Samples of the module's series served now (filled in from the exposition when listed). */
  samples?: number;
  /** It exports probe() and no process() (issue 20): it only answers /probe, and never runs on its own. */
  probeOnly?: boolean;
}

export class StatusBoard {
  readonly #modules = new Map<string, ModuleStatus>();
  #generation = 0;

  /** Bumps on every change, so caches of anything derived from the board can check it. */
  get generation(): number {
    return this.#generation;
  }

  /** The module's status, created (not loaded, not up) if new. */
  ensure(name: string, file: string): ModuleStatus {
    let status = this.#modules.get(name);
    if (!status) {
      status = {
        name,
        file,
        loaded: false,
        lastLoadSuccessful: false,
        up: false,
        errors: { error: 0, timeout: 0 },
        overruns: 0,
        lastCountedAt: {},
        reloads: { success: 0, failure: 0 },
        metricNames: [],
        stuck: false,
        servingPrevious: false,
        expired: false,
      };
      this.#modules.set(name, status);
    }
    return status;
  }

  /** Applies `change` to the module's status and marks the board changed. */
  update(name: string, change: (status: ModuleStatus) => void): void {
    const status = this.#modules.get(name);
    if (!status) return;
    change(status);
    this.#generation++;
  }

  delete(name: string): void {
    if (this.#modules.delete(name)) this.#generation++;
  }

  /** Every module, sorted by name. */
  list(): ModuleStatus[] {
    return [...this.#modules.values()].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  }
}
