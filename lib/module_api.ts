/**
 * The types of a metric module, for its author (issue 11). Type-only: a module anywhere on disk
 * imports them through the exporter's import map,
 *
 *     import type { Module, ProcessContext } from "dynamic_exporter";
 *
 * and `import type` is erased before the module runs, so it costs nothing at run time and
 * works the same under `deno run` and in the compiled binary.
 */

/** Extra fields of a log line; each becomes `key=value`. */
export type LogFields = Record<string, unknown>;

/** `ctx.log`: lines through the exporter's logger, with `module=<name>`, which a field cannot change. */
export interface ModuleLog {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** What process(ctx) receives. */
export interface ProcessContext {
  /** Aborts when the call times out or the module is unloaded: pass it to fetch and friends. */
  signal: AbortSignal;
  log: ModuleLog;
  /** The module's name: its file name without the extension. */
  module: string;
}

/** What probe(target, ctx) receives (issue 20): `GET /probe?module=<name>&target=<target>`. */
export interface ProbeContext {
  /**
   * A prom-client Registry of this call's own: create the probe's metrics with
   * `registers: [ctx.registry]`, so that concurrent probes of other targets never mix with them.
   */
  registry: import("prom-client").Registry;
  /** The query parameters the module declares in `params` that the request gave. */
  params: Record<string, string>;
  /** Aborts at the module's timeout, capped by Prometheus' scrape timeout. */
  signal: AbortSignal;
  /** Lines through the exporter's logger; `&debug=true` shows them in the response too. */
  log: ModuleLog;
  module: string;
}

/**
 * `export const sandbox`: runs the module in a host process of its own with exactly these Deno
 * permissions (each a list, as `--allow-net=...` takes, and `$NAME` for a setting; omitted means
 * none), within the modules' ceiling (`--modules.allow-*`). It is read from the source before any
 * of the module's code runs, so write it as a literal.
 */
export interface Sandbox {
  net?: string[];
  read?: string[];
  env?: string[];
  run?: string[];
  write?: string[];
  sys?: string[];
  /** The host's heap budget: bytes, or a size like "256MB" or "1GiB" (at least 16MiB). */
  memory?: string | number;
}

/** A module's exports: `process`, `probe` or both. */
export interface Module {
  /** Runs every interval (or at each scrape); may be async. A throw marks the module down. */
  process?(ctx: ProcessContext): unknown;
  /** Answers `/probe?module=<name>&target=<target>`; may be async. A throw makes `probe_success 0`. */
  probe?(target: string, ctx: ProbeContext): unknown;
  /** The targets probe() accepts: a RegExp the whole target must match, or the exact targets. */
  targets?: RegExp | string[];
  /** Decides which targets probe() accepts, when `targets` cannot say it. */
  validateTarget?(target: string): boolean;
  /** The query parameters probe() takes (ctx.params); any other is refused with 400. */
  params?: string[];
  /** Distinct probe() calls at once; more are refused with 429. Default 16. */
  concurrency?: number;
  /**
   * A duration like "30s": a good probe result is served again for that long, and its metrics when a
   * later call fails (with probe_success 0), with `probe_cache_age_seconds`. Default: no cache.
   */
  cache?: string;
  /** Overrides --collect.interval: a duration like "30s" or "1d"; "0" runs it at scrape time. */
  interval?: string;
  /** Overrides --collect.timeout: a duration like "2s". */
  timeout?: string;
  /**
   * Overrides --collect.max-age: once the last success is older than this ("1h"), none of the
   * module's series are served until its next success; "0" serves the last values for ever.
   */
  maxAge?: string;
  /** Called once when this version is retired: file deleted or changed, or the exporter stops. */
  dispose?(): unknown;
  sandbox?: Sandbox;
}

/**
 * One run of a scenario as `test-module` replayed it (issue 19): what a check in
 * `_fixtures/<module>/checks.ts` receives. Write checks with `node:assert/strict`:
 *
 *     import assert from "node:assert/strict";
 *     import type { Checks } from "dynamic_exporter";
 *     export const checks: Checks = {
 *       "recorded/1": (run) => assert.equal(run.sample("orders_queue_depth", { queue: "a" }), 3),
 *     };
 */
export interface FixtureRun {
  /** The scenario's folder name. */
  scenario: string;
  /** 1 for the first run. */
  run: number;
  /** Whether the run succeeded: what `dynamic_exporter_module_up` serves. */
  up: boolean;
  /** Why it failed, when it did. */
  error?: string;
  /** What the exporter serves for the module after the run, with its `module_up`. */
  exposition: string;
  /** The lines it logged in the run (ctx.log and its console), as `level: message`. */
  logs: string[];
  /**
   * The value of the served series of `name` whose labels include `labels`; undefined when
   * none is served. Throws when several are: give more labels.
   */
  sample(name: string, labels?: Record<string, string>): number | undefined;
}

/** `export const checks: Checks` in `_fixtures/<module>/checks.ts`: by "<scenario>/<run>", a check that throws to fail. */
export type Checks = Record<string, (run: FixtureRun) => unknown>;
