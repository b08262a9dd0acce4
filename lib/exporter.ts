/**
 * The composition root: the only unit that knows every other. It builds the units, wires
 * them together and gives main.ts the few doors it needs (start, reload, handler, close).
 */

import { register } from "prom-client";
import type { Config } from "./flags.ts";
import type { Logger } from "./log.ts";
import { Exposition } from "./exposition/exposition.ts";
import type { Format } from "./exposition/format.ts";
import { coalesce } from "./coalesce.ts";
import { createHandler, type Handler, type RunNow } from "./http/handler.ts";
import { ProcessHost } from "./supervisor/process_host.ts";
import { landingPage } from "./http/landing.ts";
import { modulePage } from "./http/module_page.ts";
import { MetricOwnership, type PromRegistry } from "./modules/ownership.ts";
import { runProcess } from "./schedule/runner.ts";
import { Scheduler } from "./schedule/scheduler.ts";
import { type BuildInfo, selfMetrics } from "./exposition/self_metrics.ts";
import { StatusBoard } from "./status.ts";
import { VERSION } from "./version.ts";
import { DirWatcher } from "./modules/watcher.ts";
import type { WebConfigStatus } from "./web_config/web_config_watcher.ts";
import { IgnoredFiles } from "./modules/ignored_files.ts";
import { ModuleSet, type SyncOptions } from "./module_set.ts";
import { RunHistory } from "./run_history.ts";
import { runReport } from "./http/run_report.ts";
import type { ModuleStatus } from "./status.ts";
import { Prober } from "./prober.ts";
import { HostedModule } from "./supervisor/hosted_module.ts";

type Bytes = Uint8Array<ArrayBuffer>;

export type ExporterConfig = Pick<
  Config,
  | "metricsDir"
  | "rescanIntervalMs"
  | "collectIntervalMs"
  | "collectTimeoutMs"
  | "collectMaxAgeMs"
  | "telemetryPath"
  | "enableLifecycle"
  | "sandboxAll"
  | "moduleCeiling"
  | "sharedMemoryBytes"
  | "hostGraceMs"
  | "hostHeartbeatMs"
>;

export interface ExporterOptions {
  log: Logger;
  /**
   * Re-reads --env-file before every reload of all modules (SIGHUP, POST /-/reload); true when a
   * value changed: the shared host then starts afresh, so its modules see the new values. A bad
   * file keeps the old ones.
   */
  reloadEnv?(): Promise<boolean>;
  /** The --web.config.file: its state for the self-metrics; re-read with every module reload. */
  webConfig?: {
    status(): WebConfigStatus;
    readonly generation: number;
    reload(reason: string): Promise<boolean>;
  };
}

function buildInfo(): BuildInfo {
  return {
    version: VERSION,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    typescript: Deno.version.typescript,
  };
}

export class Exporter {
  readonly #config: ExporterConfig;
  readonly #log: Logger;
  readonly #ownership: MetricOwnership;
  readonly #board = new StatusBoard();
  readonly #runs = new RunHistory();
  readonly #webConfig: ExporterOptions["webConfig"];
  readonly #reloadEnv: ExporterOptions["reloadEnv"];
  readonly #scheduler: Scheduler;
  readonly #exposition: Exposition;
  readonly #watcher: DirWatcher;
  readonly #ignored: IgnoredFiles;
  readonly #modules: ModuleSet;
  readonly #host: ProcessHost;
  readonly #prober: Prober;
  readonly #startTimeSeconds = performance.timeOrigin / 1000;
  readonly #build = buildInfo();
  #ready = false;

  constructor(config: ExporterConfig, options: ExporterOptions) {
    this.#config = config;
    this.#log = options.log;
    this.#webConfig = options.webConfig;
    this.#reloadEnv = options.reloadEnv;
    this.#ignored = new IgnoredFiles(this.#log);
    this.#ownership = new MetricOwnership(register as unknown as PromRegistry, {
      reserved: selfMetrics([], this.#build, 0),
    });
    const host = this.#host = new ProcessHost({
      ownership: this.#ownership,
      log: this.#log,
      loadTimeoutMs: config.collectTimeoutMs,
      sandboxAll: config.sandboxAll,
      ceiling: config.moduleCeiling,
      sharedMemoryBytes: config.sharedMemoryBytes,
      heartbeatMs: config.hostHeartbeatMs,
      graceMs: config.hostGraceMs,
      onHostDown: (names) => this.#modules.onHostDown(names),
      onQuarantine: (name, reason) => this.#modules.onQuarantine(name, reason),
      onModuleLog: (name, level, msg, fields) => this.#runs.line(name, level, msg, fields),
    });
    this.#scheduler = new Scheduler({
      start: (module, timeoutMs) => {
        this.#runs.begin(module.name);
        const run = runProcess(module, { timeoutMs, log: this.#log.child({ module: module.name }) });
        this.#modules.trackRun(module, run.settled);
        return run;
      },
      onResult: (module, result) => this.#modules.onResult(module, result),
      onOverrun: (module, reason) => this.#modules.onOverrun(module, reason),
      onScheduled: (module, delayMs, retry) =>
        this.#board.update(module.name, (s) => {
          s.nextRunAt = Date.now() + delayMs;
          s.retrying = retry;
        }),
    });
    this.#exposition = new Exposition({
      selfFamilies: () =>
        selfMetrics(this.#modulesServed(), this.#build, this.#startTimeSeconds, this.#webConfig?.status(), {
          hosts: this.#host.hosts(),
          restarts: this.#host.restarts,
        }, this.#prober.counts),
      // Counters that only grow: their sum changes whenever one does.
      selfVersion: () =>
        this.#board.generation + (this.#webConfig?.generation ?? 0) + this.#prober.generation,
      onRender: (name, err) => this.#modules.onRender(name, err),
      renderTimeoutMs: config.collectTimeoutMs,
      prebuild: true,
    });
    this.#exposition.set({
      name: "",
      isDynamic: () => this.#ownership.unowned.metrics.size > 0,
      families: () => this.#ownership.families(this.#ownership.unowned),
    });
    this.#modules = new ModuleSet({
      metricsDir: config.metricsDir,
      collectIntervalMs: config.collectIntervalMs,
      collectTimeoutMs: config.collectTimeoutMs,
      collectMaxAgeMs: config.collectMaxAgeMs,
      history: this.#runs,
      host,
      scheduler: this.#scheduler,
      describeHost: (module) => host.describe(module),
      exposition: this.#exposition,
      board: this.#board,
      ignored: this.#ignored,
      log: this.#log,
    });
    this.#prober = new Prober({
      find: (name) => {
        const module = this.#modules.loaded(name);
        return module instanceof HostedModule ? module : undefined;
      },
      defaultTimeoutMs: config.collectTimeoutMs,
      log: this.#log,
    });
    this.#watcher = new DirWatcher(config.metricsDir, {
      log: this.#log,
      // The periodic rescan also retries modules that failed to load: what they import (a
      // helper in a subdirectory, a config fetched by a top-level await) may be there now.
      onChange: (cause) => this.sync({ retryFailed: cause === "periodic" }),
      rescanMs: config.rescanIntervalMs,
    });
  }

  /** Loads every module in the dir, then watches it. */
  async start(): Promise<void> {
    await this.#watcher.start();
    await this.sync();
    this.#ready = true;
  }

  get ready(): boolean {
    return this.#ready;
  }

  /** Brings the loaded modules in step with the dir (see ModuleSet.sync). */
  sync(options: SyncOptions = {}): Promise<void> {
    return this.#modules.sync(options);
  }

  /**
   * Rescans the dir and reloads every module, and re-reads the web config (SIGHUP, POST
   * /-/reload). Calls that arrive while a reload runs share the next one: a burst of signals or
   * requests costs two reloads, not one each (issue 8, item 15).
   */
  reload(reason: string): Promise<void> {
    this.#reloadReason = reason;
    return this.#reload();
  }

  /** Why the next reload runs: the last caller's reason. */
  #reloadReason = "";
  readonly #reload = coalesce(async () => {
    const reason = this.#reloadReason;
    this.#log.info("reloading every module", { reason });
    // A host's environment is fixed when it starts: the shared host starts afresh when a value
    // changed (each sandboxed module gets a new host with its reload anyway).
    if (await this.#reloadEnv?.()) this.#host.recycleShared();
    await Promise.all([this.#webConfig?.reload(reason), this.sync({ reloadAll: true })]);
  });

  /** The HTTP handler over this exporter. */
  handler(): Handler {
    return createHandler({
      telemetryPath: this.#config.telemetryPath,
      scrape: (format, gzip, capMs) => this.scrape(format, gzip, capMs),
      landingPage: (refreshSeconds) =>
        landingPage(this.#modulesServed(), {
          refreshSeconds,
          telemetryPath: this.#config.telemetryPath,
          version: VERSION,
          defaultIntervalMs: this.#config.collectIntervalMs,
          ignoredFiles: this.#ignored.list(),
          runs: (name) => this.#runs.runs(name),
          probes: this.#prober.recent(),
        }),
      modulePage: async (name) => {
        const status = this.#modulesServed().find((m) => m.name === name);
        if (!status) return undefined;
        return modulePage(status, {
          telemetryPath: this.#config.telemetryPath,
          version: VERSION,
          // Removed, or its host gone, while the page is built: the page says nothing is served, no 500.
          served: await this.#exposition.served(name).catch(() => undefined),
          runs: this.#runs.runs(name),
        });
      },
      ready: () => this.#ready,
      probe: (request) => this.#prober.handle(request),
      reload: this.#config.enableLifecycle ? () => this.reload("POST /-/reload") : undefined,
      runModule: this.#config.enableLifecycle ? (name) => this.runModule(name) : undefined,
      log: this.#log,
    });
  }

  /**
   * Runs one module now (POST /-/run): a run as any other, whose result updates what is served;
   * its report is its log lines and what the module serves after it.
   */
  async runModule(name: string): Promise<RunNow> {
    const run = this.#scheduler.runNow(name);
    if (typeof run === "string") return { refused: run };
    const result = await run;
    const record = this.#runs.runs(name).find((r) => r.startedAt === result.startedAt) ??
      {
        ...result,
        error: result.error === undefined ? undefined : String(result.error),
        lines: [],
        droppedLines: 0,
      };
    return { report: runReport(name, record, await this.#exposition.fragment(name, "text")) };
  }

  /** Every module's status, with the samples it serves now. */
  #modulesServed(): ModuleStatus[] {
    return this.#board.list().map((m) => ({ ...m, samples: this.#exposition.samples(m.name) }));
  }

  /**
   * Runs scrape-time modules, then encodes the body (its parts, to send in order), all within
   * `capMs` when given. Without scrape-time modules a built body is returned at once, not as a
   * promise: the common scrape then costs the HTTP server no await (issue 10).
   */
  scrape(format: Format, gzip: boolean, capMs?: number): Bytes[] | Promise<Bytes[]> {
    if (!this.#scheduler.hasScrapeTime()) {
      const cached = this.#exposition.cached(format, gzip);
      if (cached) return cached;
    }
    return this.#scrape(format, gzip, capMs);
  }

  async #scrape(format: Format, gzip: boolean, capMs?: number): Promise<Bytes[]> {
    const deadline = capMs === undefined ? undefined : performance.now() + capMs;
    await this.#scheduler.collectScrapeTime(capMs);
    return await this.#exposition.encodeParts(format, gzip, deadline);
  }

  /** What close() is still waiting for (a load, process() and dispose() calls), by module. */
  pending(): string[] {
    return this.#modules.pending();
  }

  /** Starts no run from now on (SIGTERM: shutdown has begun). */
  stopRuns(): void {
    this.#scheduler.stop();
  }

  /** Kills every module host at once: shutdown passed its deadline, and none may outlive the server. */
  killHosts(): void {
    this.#host.close();
  }

  /** Stops watching and running, and disposes every module, all at once. */
  async close(): Promise<void> {
    await this.#watcher.close();
    await this.#modules.close();
    this.#ownership.close();
  }
}
