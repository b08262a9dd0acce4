/**
 * `GET /probe?module=<name>&target=<target>` (issue 20): the multi-target exporter pattern of
 * blackbox_exporter, with the module's code, not the query string, deciding what a target may
 * be and which parameters exist. Everything a request says is checked here, on the server,
 * before any call reaches the module's host: the target against the module's `targets` (or its
 * validateTarget(), in its host), the parameters against its `params`, the calls in flight
 * against its `concurrency`, and whether the target's probes ended the module's host too often
 * (503 for a while: process_host.ts blames such a death on the target). Identical concurrent
 * probes share one call.
 */

import {
  CONTENT_TYPES,
  formatFamilies,
  type MetricFamily,
  OPENMETRICS_EOF,
  validateFamily,
} from "./exposition/format.ts";
import { acceptsGzip, negotiateFormat } from "./exposition/negotiate.ts";
import { scrapeCapMs } from "./http/handler.ts";
import type { Logger } from "./log.ts";
import type { ProbeLogLine } from "./host_protocol.ts";
import { type ProbeSettings, RESERVED_PARAMS, targetAllowed } from "./modules/probe_exports.ts";
import type { ProbeOutcome } from "./supervisor/hosted_module.ts";
import { formatDuration } from "./duration.ts";
import type { TargetRefusal } from "./supervisor/target_blame.ts";

/** A loaded probe module, as the prober needs it (a HostedModule). */
export interface ProbeModule {
  readonly name: string;
  readonly version: number;
  readonly timeoutMs?: number;
  readonly probeSettings: ProbeSettings | undefined;
  probe(
    target: string,
    params: Record<string, string>,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<ProbeOutcome>;
  validateTarget(target: string, timeoutMs: number): Promise<boolean>;
  /** Whether the target is refused now, its probes having ended the module's host too often. */
  targetRefusal(target: string): TargetRefusal | undefined;
}

export interface ProberOptions {
  /** The loaded version of module `name`, if any. */
  find(name: string): ProbeModule | undefined;
  /** --collect.timeout: a probe's timeout when its module sets none. */
  defaultTimeoutMs: number;
  log: Logger;
}

/** A probe the status page lists. */
export interface RecentProbe {
  module: string;
  target: string;
  success: boolean;
  durationSeconds: number;
  /** Why it failed. */
  error?: string;
  /** When it ended, ms since the epoch. */
  at: number;
}

/** Probes of each module the status page keeps: failures longer, so one stays in sight among successes. */
export const RECENT_SUCCESSES = 5;
export const RECENT_FAILURES = 10;

/** Calls of each module by result, for dynamic_exporter_probes_total. */
export type ProbeCounts = ReadonlyMap<string, { success: number; failure: number }>;

/** One call's result, shared by the requests that asked for it. */
interface ProbeResult {
  success: boolean;
  durationSeconds: number;
  families: MetricFamily[];
  logs: ProbeLogLine[];
}

/** As blackbox_exporter serves them. */
export const PROBE_SUCCESS_HELP = "Displays whether or not the probe was a success";
const PROBE_DURATION_HELP = "Returns how long the probe took to complete in seconds";
const CACHE_AGE_HELP = "How old the served result is, in seconds; present only when it came from the " +
  "module's cache: a recent result, or the last good one when this probe failed";
const OWN_NAMES = new Set(["probe_success", "probe_duration_seconds", "probe_cache_age_seconds"]);

/**
 * Results kept for modules that export `cache`, all modules together, and their samples in all (a
 * result may hold up to MAX_SANDBOXED_SAMPLES for a sandboxed module); past either, the least recently used go first.
 */
export const PROBE_CACHE_ENTRIES = 1024;
export const PROBE_CACHE_SAMPLES = 200_000;

/** The longest target a request may name. */
const MAX_TARGET_LENGTH = 4096;

class Refusal {
  constructor(readonly status: number, readonly message: string, readonly headers: HeadersInit = {}) {}
}

function text(status: number, body: string, headers: HeadersInit = {}): Response {
  return new Response(body, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });
}

export class Prober {
  readonly #options: ProberOptions;
  readonly #log: Logger;
  /** Calls in flight by key (module version, target, params). */
  readonly #inFlight = new Map<string, Promise<ProbeResult>>();
  /** Distinct calls in flight, by module name. */
  readonly #running = new Map<string, number>();
  readonly #counts = new Map<string, { success: number; failure: number }>();
  /** Good results of modules that export `cache`, by key, least recently used first. */
  readonly #cache = new Map<string, { result: ProbeResult; at: number; samples: number }>();
  #cachedSamples = 0;
  /** The last calls of each module, successes and failures apart. */
  readonly #recent = new Map<string, { successes: RecentProbe[]; failures: RecentProbe[] }>();
  #generation = 0;

  constructor(options: ProberOptions) {
    this.#options = options;
    this.#log = options.log;
  }

  /** Calls so far, by module and result. */
  get counts(): ProbeCounts {
    return this.#counts;
  }

  /** Bumps with every call that ends, so caches of the self-metrics can check it. */
  get generation(): number {
    return this.#generation;
  }

  /** The last probes of each loaded probe module, newest first. */
  recent(): RecentProbe[] {
    const out: RecentProbe[] = [];
    for (const [name, { successes, failures }] of this.#recent) {
      if (this.#options.find(name)?.probeSettings) out.push(...successes, ...failures);
    }
    return out.sort((a, b) => b.at - a.at);
  }

  /** Answers one /probe request. */
  async handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    let call: { module: ProbeModule; target: string; params: Record<string, string>; debug: boolean };
    try {
      call = this.#parse(url.searchParams);
      await this.#checkTarget(call.module, call.target);
    } catch (err) {
      if (err instanceof Refusal) return text(err.status, err.message + "\n", err.headers);
      throw err;
    }
    const { module, target, params, debug } = call;
    const key = JSON.stringify([module.name, module.version, target, Object.entries(params).sort()]);
    const cacheMs = module.probeSettings!.cacheMs;
    const cached = cacheMs === undefined ? undefined : this.#cache.get(key);
    if (cached && performance.now() - cached.at < cacheMs!) {
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      const age = (performance.now() - cached.at) / 1000;
      return this.#respond(request, debug, {
        ...cached.result,
        logs: [...cached.result.logs, {
          level: "info",
          msg: "served from the cache",
          fields: { age_seconds: age },
        }],
      }, age);
    }
    let result = this.#inFlight.get(key);
    if (!result) {
      const running = this.#running.get(module.name) ?? 0;
      const limit = module.probeSettings!.concurrency;
      if (running >= limit) {
        this.#log.warn("probe refused: too many at once", {
          module: module.name,
          target,
          concurrency: limit,
        });
        return text(
          429,
          `Too many probes of module "${module.name}" at once: its concurrency is ${limit}; try again later.\n`,
        );
      }
      this.#running.set(module.name, running + 1);
      const cap = scrapeCapMs(request.headers.get("x-prometheus-scrape-timeout-seconds"));
      const timeoutMs = Math.min(module.timeoutMs ?? this.#options.defaultTimeoutMs, cap ?? Infinity);
      result = this.#call(module, target, params, timeoutMs).then((r) => {
        if (cacheMs !== undefined && r.success) this.#remember(key, r);
        return r;
      }).finally(() => {
        this.#inFlight.delete(key);
        const left = (this.#running.get(module.name) ?? 1) - 1;
        if (left === 0) this.#running.delete(module.name);
        else this.#running.set(module.name, left);
      });
      this.#inFlight.set(key, result);
    }
    const fresh = await result;
    const lastGood = cacheMs === undefined || fresh.success ? undefined : this.#cache.get(key);
    if (lastGood) {
      // The failure is this probe's (probe_success 0); the values are the last good ones, with their age.
      const age = (performance.now() - lastGood.at) / 1000;
      return this.#respond(request, debug, {
        ...fresh,
        families: lastGood.result.families,
        logs: [...fresh.logs, {
          level: "info",
          msg: "serving the last good result's metrics",
          fields: { age_seconds: age },
        }],
      }, age);
    }
    return this.#respond(request, debug, fresh);
  }

  #remember(key: string, result: ProbeResult): void {
    this.#forget(key);
    const samples = result.families.reduce((n, f) => n + f.values.length, 0);
    if (samples > PROBE_CACHE_SAMPLES) return;
    this.#cache.set(key, { result, at: performance.now(), samples });
    this.#cachedSamples += samples;
    for (const old of this.#cache.keys()) {
      if (this.#cache.size <= PROBE_CACHE_ENTRIES && this.#cachedSamples <= PROBE_CACHE_SAMPLES) break;
      this.#forget(old);
    }
  }

  #forget(key: string): void {
    const entry = this.#cache.get(key);
    if (!entry) return;
    this.#cache.delete(key);
    this.#cachedSamples -= entry.samples;
  }

  /** The answer: the result's families, then the exporter's own, in the negotiated format, or debug text. */
  #respond(request: Request, debug: boolean, result: ProbeResult, cacheAgeSeconds?: number): Response {
    const { success, durationSeconds, families, logs } = result;
    const all: MetricFamily[] = [
      ...families,
      ...cacheAgeSeconds === undefined ? [] : [{
        name: "probe_cache_age_seconds",
        help: CACHE_AGE_HELP,
        type: "gauge" as const,
        values: [{ value: cacheAgeSeconds }],
      }],
      {
        name: "probe_duration_seconds",
        help: PROBE_DURATION_HELP,
        type: "gauge",
        values: [{ value: durationSeconds }],
      },
      {
        name: "probe_success",
        help: PROBE_SUCCESS_HELP,
        type: "gauge",
        values: [{ value: success ? 1 : 0 }],
      },
    ];
    if (debug) return text(200, debugBody(logs, formatFamilies(all, "text")));
    const format = negotiateFormat(request.headers.get("accept"));
    const body = formatFamilies(all, format) + (format === "openmetrics" ? OPENMETRICS_EOF : "");
    const headers: Record<string, string> = { "content-type": CONTENT_TYPES[format] };
    if (!acceptsGzip(request.headers.get("accept-encoding"))) return new Response(body, { headers });
    headers["content-encoding"] = "gzip";
    return new Response(new Blob([body]).stream().pipeThrough(new CompressionStream("gzip")), { headers });
  }

  /** The module, target, declared parameters and debug flag a query names; throws a Refusal. */
  #parse(query: URLSearchParams): {
    module: ProbeModule;
    target: string;
    params: Record<string, string>;
    debug: boolean;
  } {
    const keys = new Map<string, string[]>();
    for (const [key, value] of query) keys.set(key, [...keys.get(key) ?? [], value]);
    for (const [key, values] of keys) {
      if (values.length > 1) {
        throw new Refusal(400, `Parameter "${cut(key)}" is given ${values.length} times; give it once.`);
      }
    }
    const name = keys.get("module")?.[0];
    if (!name) throw new Refusal(400, `Missing parameter "module": /probe?module=<name>&target=<target>.`);
    const target = keys.get("target")?.[0];
    if (!target) throw new Refusal(400, `Missing parameter "target": /probe?module=<name>&target=<target>.`);
    if (target.length > MAX_TARGET_LENGTH) {
      throw new Refusal(400, `Parameter "target" is ${target.length} characters, over ${MAX_TARGET_LENGTH}.`);
    }
    const debugValue = keys.get("debug")?.[0];
    if (debugValue !== undefined && debugValue !== "true" && debugValue !== "false") {
      throw new Refusal(
        400,
        `Parameter "debug" must be true or false, not ${JSON.stringify(cut(debugValue))}.`,
      );
    }
    const module = this.#options.find(name);
    if (!module) throw new Refusal(400, `Unknown module "${cut(name)}": no module of that name is loaded.`);
    const settings = module.probeSettings;
    if (!settings) throw new Refusal(400, `Module "${name}" exports no probe(target, ctx) function.`);
    const params: Record<string, string> = {};
    for (const [key, [value]] of keys) {
      if (RESERVED_PARAMS.includes(key)) continue;
      if (!settings.params.includes(key)) {
        const takes = settings.params.length === 0
          ? "takes no parameters"
          : `takes only ${settings.params.map((p) => `"${p}"`).join(", ")}`;
        throw new Refusal(400, `Unknown parameter "${cut(key)}": module "${name}" ${takes}.`);
      }
      params[key] = value;
    }
    return { module, target, params, debug: debugValue === "true" };
  }

  /**
   * Refuses a target the module does not accept (403: its `targets`, then its validateTarget()),
   * and, before validateTarget() runs in the host, one whose probes ended the host too often (503).
   */
  async #checkTarget(module: ProbeModule, target: string): Promise<void> {
    const settings = module.probeSettings!;
    const refused = () =>
      new Refusal(403, `Target ${JSON.stringify(cut(target))} is refused by module "${module.name}".`);
    if (!targetAllowed(settings.targets, target)) throw refused();
    const blamed = module.targetRefusal(target);
    if (blamed) {
      const seconds = Math.max(1, Math.ceil(blamed.remainingMs / 1000));
      throw new Refusal(
        503,
        `Target ${JSON.stringify(cut(target))} is refused by module "${module.name}" for ` +
          `${formatDuration(seconds * 1000)} more: its probes ended the module's host ${blamed.deaths} ` +
          `times in a row (last: the host ${blamed.reason}).`,
        { "retry-after": String(seconds) },
      );
    }
    if (!settings.validateTarget) return;
    let accepted: boolean;
    try {
      accepted = await module.validateTarget(target, module.timeoutMs ?? this.#options.defaultTimeoutMs);
    } catch (err) {
      this.#log.warn("probe target validation failed", { module: module.name, target, err });
      throw new Refusal(
        403,
        `Target ${
          JSON.stringify(cut(target))
        } is refused: validateTarget() of module "${module.name}" failed.`,
      );
    }
    if (!accepted) throw refused();
  }

  async #call(
    module: ProbeModule,
    target: string,
    params: Record<string, string>,
    timeoutMs: number,
  ): Promise<ProbeResult> {
    const controller = new AbortController();
    const timer = setTimeout(
      () =>
        controller.abort(
          new DOMException(`probe() timed out after ${formatDuration(timeoutMs)}`, "TimeoutError"),
        ),
      timeoutMs,
    );
    const start = performance.now();
    let outcome: ProbeOutcome;
    try {
      outcome = await module.probe(target, params, timeoutMs, controller.signal);
    } catch (err) {
      outcome = { families: [], logs: [], error: err as Error };
    } finally {
      clearTimeout(timer);
    }
    const durationSeconds = (performance.now() - start) / 1000;
    const families = outcome.families.filter((family) => {
      const problem = OWN_NAMES.has(family?.name)
        ? `metric "${family.name}" is the exporter's own in a probe's answer`
        : validateFamily(family);
      if (problem !== undefined) {
        this.#log.warn("probe metric left out", { module: module.name, target, err: problem });
      }
      return problem === undefined;
    });
    const success = outcome.error === undefined;
    if (success) {
      this.#log.debug("probe succeeded", { module: module.name, target, duration_seconds: durationSeconds });
    } else {
      this.#log.warn("probe failed", {
        module: module.name,
        target,
        duration_seconds: durationSeconds,
        err: outcome.error,
      });
    }
    const recent = this.#recent.get(module.name) ?? { successes: [], failures: [] };
    const kept = success ? recent.successes : recent.failures;
    kept.push({
      module: module.name,
      target,
      success,
      durationSeconds,
      error: success ? undefined : errorText(outcome.error),
      at: Date.now(),
    });
    if (kept.length > (success ? RECENT_SUCCESSES : RECENT_FAILURES)) kept.shift();
    this.#recent.set(module.name, recent);
    const counts = this.#counts.get(module.name) ?? { success: 0, failure: 0 };
    counts[success ? "success" : "failure"]++;
    this.#counts.set(module.name, counts);
    this.#generation++;
    const logs = success ? outcome.logs : [
      ...outcome.logs,
      { level: "error", msg: "probe failed", fields: { err: errorText(outcome.error) } },
    ];
    return { success, durationSeconds, families, logs };
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** blackbox_exporter's `debug=true` page: the probe's log, then what it would have served. */
function debugBody(logs: ProbeLogLine[], exposition: string): string {
  const lines = logs.map(({ level, msg, fields }) =>
    [
      `level=${level}`,
      `msg=${JSON.stringify(msg)}`,
      ...Object.entries(fields ?? {}).map(([k, v]) =>
        `${k}=${typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v) ?? String(v)}`
      ),
    ].join(" ")
  );
  return `Logs for the probe:\n${lines.join("\n")}${lines.length ? "\n" : ""}\n\n` +
    `Metrics that would have been returned:\n${exposition}`;
}

/** A value of the query as a message quotes it: bounded. */
function cut(value: string): string {
  return value.length <= 200 ? value : `${value.slice(0, 200)}...`;
}
