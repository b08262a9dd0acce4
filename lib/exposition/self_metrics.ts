/** The exporter's own metrics, built from the status board and the process, never prom-client's defaults. */

import process from "node:process";
import type { MetricFamily, Sample } from "./format.ts";
import type { ModuleStatus } from "../status.ts";
import type { WebConfigStatus } from "../web_config/web_config_watcher.ts";

/** The module hosts, as the supervisor reports them. */
/** `dynamic_exporter_module_up`'s help, which test-module's golden files hold too. */
export const MODULE_UP_HELP = "Whether the module's last process() run and render succeeded.";

export interface HostsStatus {
  hosts: { label: string; rssBytes?: number }[];
  /** Restarts by host label, then reason. */
  restarts: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

export interface BuildInfo {
  version: string;
  deno: string;
  v8: string;
  typescript: string;
}

const P = "dynamic_exporter_";

function perModule(
  name: string,
  help: string,
  type: "gauge" | "counter",
  modules: ModuleStatus[],
  samples: (m: ModuleStatus) => Sample[],
): MetricFamily {
  return { name: P + name, help, type, values: modules.flatMap(samples) };
}

const flag = (b: boolean): number => b ? 1 : 0;

/**
 * Self-metric families; `startTimeSeconds` is when the process started, `web` the state of
 * the --web.config.file when one is given.
 */
export function selfMetrics(
  modules: ModuleStatus[],
  build: BuildInfo,
  startTimeSeconds: number,
  web?: WebConfigStatus,
  hosts?: HostsStatus,
  probes?: ReadonlyMap<string, { success: number; failure: number }>,
): MetricFamily[] {
  const one = (m: ModuleStatus, value: number): Sample[] => [{ labels: { module: m.name }, value }];
  const quarantined = modules.filter((m) => m.quarantined !== undefined).length;
  const loaded = modules.filter((m) => m.loaded && m.quarantined === undefined).length;
  const cpu = process.cpuUsage();
  return [
    {
      name: P + "build_info",
      help:
        "A metric with a constant '1' value labeled by version, and the Deno, V8 and TypeScript versions.",
      type: "gauge",
      values: [{ labels: { ...build }, value: 1 }],
    },
    {
      name: P + "modules",
      help:
        "Number of modules in the metrics directory by state: loaded (a version is serving), failed, or quarantined (its runs ended its host too often).",
      type: "gauge",
      values: [
        { labels: { state: "loaded" }, value: loaded },
        { labels: { state: "failed" }, value: modules.length - loaded - quarantined },
        { labels: { state: "quarantined" }, value: quarantined },
      ],
    },
    {
      name: P + "host_restarts_total",
      help:
        "Module host processes that ended and were restarted, by host (shared, or the module's name) and reason.",
      type: "counter",
      values: [...hosts?.restarts ?? []].flatMap(([host, byReason]) =>
        [...byReason].map(([reason, value]) => ({ labels: { host, reason }, value }))
      ),
    },
    {
      name: P + "host_resident_memory_bytes",
      help: "Resident memory of each module host process, by host (shared, or the module's name).",
      type: "gauge",
      values: (hosts?.hosts ?? []).flatMap((h) =>
        h.rssBytes === undefined ? [] : [{ labels: { host: h.label }, value: h.rssBytes }]
      ),
    },
    {
      name: P + "probes_total",
      help: "probe() calls of each probe module (GET /probe), by result: success or failure.",
      type: "counter",
      values: [...probes ?? []].flatMap(([module, counts]) => [
        { labels: { module, result: "success" }, value: counts.success },
        { labels: { module, result: "failure" }, value: counts.failure },
      ]),
    },
    perModule(
      "module_up",
      MODULE_UP_HELP,
      "gauge",
      modules,
      (m) => one(m, flag(m.up)),
    ),
    perModule(
      "module_samples",
      "Samples of the module's own series served now; 0 when none are (no success yet, past its maxAge, or its families fail to render).",
      "gauge",
      modules,
      (m) => one(m, m.samples ?? 0),
    ),
    perModule(
      "module_last_load_successful",
      "Whether the last load of the module's file succeeded.",
      "gauge",
      modules,
      (m) => one(m, flag(m.lastLoadSuccessful)),
    ),
    perModule(
      "module_process_duration_seconds",
      "Duration of the module's last process() run.",
      "gauge",
      modules,
      (m) => one(m, m.lastDurationSeconds ?? 0),
    ),
    perModule(
      "module_interval_seconds",
      "How often the module's process() runs, in seconds; 0 means at scrape time.",
      "gauge",
      modules,
      (m) => m.intervalMs === undefined ? [] : one(m, m.intervalMs / 1000),
    ),
    perModule(
      "module_last_success_timestamp_seconds",
      "Unix time of the module's last successful process() run; 0 if none.",
      "gauge",
      modules,
      (m) => one(m, (m.lastSuccessAt ?? 0) / 1000),
    ),
    perModule(
      "module_process_errors_total",
      "process() runs that failed, by reason: error (threw or rejected) or timeout.",
      "counter",
      modules,
      (m) => [
        { labels: { module: m.name, reason: "error" }, value: m.errors.error },
        { labels: { module: m.name, reason: "timeout" }, value: m.errors.timeout },
      ],
    ),
    perModule(
      "module_overruns_total",
      "Runs skipped because the module's previous process() was still running.",
      "counter",
      modules,
      (m) => one(m, m.overruns),
    ),
    perModule(
      "module_reloads_total",
      "Loads of the module's file, the first included, by result.",
      "counter",
      modules,
      (m) => [
        { labels: { module: m.name, result: "success" }, value: m.reloads.success },
        { labels: { module: m.name, result: "failure" }, value: m.reloads.failure },
      ],
    ),
    ...(web ? webConfigFamilies(web) : []),
    {
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes.",
      type: "gauge",
      values: [{ value: Deno.memoryUsage().rss }],
    },
    {
      name: "process_cpu_seconds_total",
      help: "Total user and system CPU time spent in seconds.",
      type: "counter",
      values: [{ value: (cpu.user + cpu.system) / 1e6 }],
    },
    {
      name: "process_start_time_seconds",
      help: "Start time of the process since unix epoch in seconds.",
      type: "gauge",
      values: [{ value: startTimeSeconds }],
    },
  ];
}

/** As Prometheus' own prometheus_config_last_reload_successful and its timestamp. */
function webConfigFamilies(web: WebConfigStatus): MetricFamily[] {
  return [
    {
      name: P + "web_config_last_reload_successful",
      help: "Whether the last read of --web.config.file succeeded; 0 means an older version keeps serving.",
      type: "gauge",
      values: [{ value: flag(web.lastReloadSuccessful) }],
    },
    {
      name: P + "web_config_last_reload_success_timestamp_seconds",
      help: "When --web.config.file was last loaded with a change, in seconds since the epoch.",
      type: "gauge",
      values: [{ value: web.lastReloadSuccessAt / 1000 }],
    },
  ];
}
