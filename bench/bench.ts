/**
 * Benchmarks of the real exporter (main.ts as a child process on loopback) plus two in-process
 * baselines. The machine is shared and noisy, so absolute times do not compare across runs:
 * each speed figure comes with a ratio against a baseline measured in the same run.
 *
 * Run: `deno task bench` (about twenty-five minutes here; the 100k-series run of section 2 is skipped
 * if time runs short). `deno task bench --quick` runs one round of 1 s wrk runs per row instead of
 * seven, and fewer repetitions elsewhere; `--only=side` runs only the side-by-side table (sections 6
 * and 7, issues 10 and 21); `--only=hosts` only what module hosts cost (sections 8-10, issue 21);
 * `--only=probes` only what `GET /probe` adds over calling probe() directly (section 11, issue 20).
 * Each figure with a target is printed against it: met or NOT met.
 */

import { fileURLToPath } from "node:url";
import bcrypt from "bcryptjs";
import { Gauge, Registry } from "prom-client";
import { parseArgs } from "node:util";
import { GuardedCaller } from "../lib/modules/guarded_call.ts";
import { MAX_SANDBOXED_SAMPLES } from "../lib/supervisor/hosted_module.ts";
import { sandboxBench } from "./sandbox_bench.ts";
import { hasWrk, ROUNDS, sideBySide } from "./side_by_side.ts";
import { hostsBench } from "./hosts_bench.ts";
import { probesBench } from "./probes_bench.ts";
import { verdict } from "./_verdict.ts";
import {
  type Exporter,
  gaugeModule,
  parseSamples,
  startExporter,
  tempMetricsDir,
  waitFor,
} from "../tests/_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Past this, the optional 100k-series run is skipped so the whole bench stays under ~3 minutes. */
const SKIP_LARGE_AFTER_MS = 80_000;

// Deno's fetch asks for `gzip, br` unless told otherwise (and inflates transparently), so a
// plain scrape must say `identity` or it silently measures the gzip path.
const VARIANTS = {
  text: { "accept-encoding": "identity" },
  gzip: { "accept-encoding": "gzip" },
  openmetrics: {
    "accept-encoding": "identity",
    accept: "application/openmetrics-text; version=1.0.0",
  },
} satisfies Record<string, Record<string, string>>;
type Variant = keyof typeof VARIANTS;
const VARIANT_NAMES = Object.keys(VARIANTS) as Variant[];

// ---------------------------------------------------------------------------------------------
// Numbers and printing

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}
const median = (values: number[]): number => quantile(values, 0.5);
const max = (values: number[]): number => Math.max(...values);

function fmtMs(ms: number): string {
  return `${ms.toFixed(ms < 1 ? 3 : ms < 10 ? 2 : 1)} ms`;
}
const fmtRatio = (r: number): string => `${r.toFixed(r < 10 ? 2 : 1)}x`;
const fmtMB = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;
const fmtKB = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;

/** Least-squares slope of `ys` against their index. */
function slope(ys: number[]): number {
  const n = ys.length;
  const meanX = (n - 1) / 2;
  const meanY = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  ys.forEach((y, x) => {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  });
  return num / den;
}

/** One section's figures, each with a one-line explanation. */
class Table {
  readonly #rows: [string, string, string][] = [];

  constructor(readonly title: string) {}

  add(label: string, value: string, note: string): void {
    this.#rows.push([label, value, note]);
  }

  print(): void {
    const width = (i: number) => Math.max(...this.#rows.map((r) => r[i].length));
    const [w0, w1] = [width(0), width(1)];
    console.log(`\n== ${this.title}`);
    for (const [label, value, note] of this.#rows) {
      console.log(`  ${label.padEnd(w0)}  ${value.padStart(w1)}  ${note}`);
    }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const progress = (message: string) => console.error(`bench: ${message}`);

// ---------------------------------------------------------------------------------------------
// Exporter sessions

/** Exporters and temp dirs still alive, so an interrupted run can remove them. */
class Leftovers {
  readonly exporters = new Set<Exporter>();
  readonly dirs = new Set<string>();
  readonly servers = new Set<{ stop(): Promise<void> }>();

  async clear(): Promise<void> {
    await Promise.all([...this.exporters].map((e) => e.stop("SIGKILL")));
    await Promise.all([...this.servers].map((s) => s.stop()));
    this.servers.clear();
    await Promise.all([...this.dirs].map((d) => Deno.remove(d, { recursive: true }).catch(() => {})));
    this.exporters.clear();
    this.dirs.clear();
  }
}

interface SessionOptions {
  /** Files for a fresh temp metrics dir (removed afterwards). */
  files?: Record<string, string>;
  /** An existing metrics dir instead, left as it is. */
  metricsDir?: string;
  /** Extra exporter flags. */
  args?: string[];
}

/** Runs `fn` against a real exporter, then kills it and removes its temp dir. */
async function withSession<T>(
  leftovers: Leftovers,
  options: SessionOptions,
  fn: (exporter: Exporter, dir: string) => Promise<T>,
): Promise<T> {
  const temp = options.metricsDir === undefined;
  const dir = options.metricsDir ?? await tempMetricsDir(options.files);
  if (temp) leftovers.dirs.add(dir);
  try {
    const exporter = await startExporter({ metricsDir: dir, args: options.args });
    leftovers.exporters.add(exporter);
    try {
      await waitFor(async () => {
        const response = await fetch(`${exporter.url}/-/healthy`);
        await response.body?.cancel();
        return response.status === 200;
      }, { timeoutMs: 30_000 });
      return await fn(exporter, dir);
    } finally {
      await exporter.stop("SIGKILL");
      leftovers.exporters.delete(exporter);
    }
  } finally {
    if (temp) {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      leftovers.dirs.delete(dir);
    }
  }
}

interface Scrape {
  ms: number;
  text: string;
  /** Bytes on the wire (the gzip size for a gzip answer). */
  wireBytes: number;
}

/** One GET of /metrics, timed from request to last body byte, checked to be the variant asked for. */
async function timedScrape(url: string, variant: Variant = "text"): Promise<Scrape> {
  const start = performance.now();
  const response = await fetch(`${url}/metrics`, { headers: VARIANTS[variant] });
  const text = await response.text();
  const ms = performance.now() - start;
  if (response.status !== 200) throw new Error(`GET /metrics: ${response.status} ${text.slice(0, 200)}`);
  const encoding = response.headers.get("content-encoding");
  const type = response.headers.get("content-type") ?? "";
  if (
    (encoding === "gzip") !== (variant === "gzip") ||
    type.includes("openmetrics") !== (variant === "openmetrics")
  ) {
    throw new Error(`GET /metrics (${variant}): got content-type ${type}, content-encoding ${encoding}`);
  }
  const length = Number(response.headers.get("content-length") ?? NaN);
  return { ms, text, wireBytes: Number.isNaN(length) ? text.length : length };
}

async function scrapeTimes(url: string, count: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) times.push((await timedScrape(url)).ms);
  return times;
}

/** Polls /metrics every `intervalMs` until `sample` reads `value`; returns the samples then. */
async function pollForSample(
  url: string,
  sample: string,
  value: number,
  options: { intervalMs: number; timeoutMs: number },
): Promise<Map<string, number>> {
  const deadline = performance.now() + options.timeoutMs;
  while (true) {
    const samples = parseSamples((await timedScrape(url)).text);
    if (samples.get(sample) === value) return samples;
    if (performance.now() > deadline) {
      throw new Error(`${sample} is ${samples.get(sample)} after ${options.timeoutMs} ms, want ${value}`);
    }
    await sleep(options.intervalMs);
  }
}

// ---------------------------------------------------------------------------------------------
// 1. Save-to-visible latency

async function debounceMs(): Promise<number | undefined> {
  const source = await Deno.readTextFile(`${ROOT}lib/modules/watcher.ts`);
  const match = source.match(/debounceMs:\s*(\d+)/);
  return match ? Number(match[1]) : undefined;
}

/** Save-to-visible times of `repetitions` rewrites of one module, and the scrape round trip meanwhile. */
async function saveToVisibleOf(
  leftovers: Leftovers,
  sandboxed: boolean,
  repetitions: number,
): Promise<{ scrapes: number[]; latencies: number[] }> {
  const name = "bench_latency_value";
  const extra = sandboxed ? "export const sandbox = {};" : "";
  const files = { "latency.ts": gaugeModule(name, 0, extra) };
  return await withSession(leftovers, { files }, async (e, dir) => {
    await pollForSample(e.url, name, 0, { intervalMs: 20, timeoutMs: 10_000 });
    await scrapeTimes(e.url, 5); // warm the connection and the body cache
    const scrapes = await scrapeTimes(e.url, 20);
    const latencies: number[] = [];
    for (let rep = 1; rep <= repetitions; rep++) {
      const start = performance.now();
      await Deno.writeTextFile(`${dir}/latency.ts`, gaugeModule(name, rep, extra));
      await pollForSample(e.url, name, rep, { intervalMs: 5, timeoutMs: 10_000 });
      latencies.push(performance.now() - start);
    }
    return { scrapes, latencies };
  });
}

async function saveToVisible(leftovers: Leftovers, summary: string[], quick: boolean): Promise<void> {
  progress("1 save to new value");
  const table = new Table("1. Save to new value (one small module rewritten, exporter on loopback)");
  const repetitions = quick ? 5 : 20;
  const debounce = await debounceMs();
  for (const sandboxed of [false, true]) {
    const where = sandboxed ? "sandboxed" : "shared host";
    const targetMs = sandboxed ? 1000 : 500;
    const { scrapes, latencies } = await saveToVisibleOf(leftovers, sandboxed, repetitions);
    const scrape = median(scrapes);
    const latency = median(latencies);
    const target = verdict(latency < targetMs, `< ${targetMs} ms`);
    table.add(
      `${where}: scrape round trip, median`,
      fmtMs(scrape),
      "baseline: GET /metrics + read body, 20 GETs",
    );
    table.add(
      `${where}: save to new value, median`,
      fmtMs(latency),
      `write file -> new value in /metrics (5 ms polls); ${target}`,
    );
    table.add(
      `${where}: save to new value, p90`,
      fmtMs(quantile(latencies, 0.9)),
      `of ${repetitions} rewrites`,
    );
    table.add(`${where}: save to new value, max`, fmtMs(max(latencies)), `of ${repetitions} rewrites`);
    table.add(
      `${where}: latency / scrape`,
      fmtRatio(latency / scrape),
      "median save to new value over median scrape",
    );
    summary.push(
      `save to new value    ${where}: median ${fmtMs(latency)} (p90 ${fmtMs(quantile(latencies, 0.9))}) = ` +
        `${fmtRatio(latency / scrape)} a scrape; debounce ${debounce ?? "?"} ms of it; ${target}`,
    );
  }
  if (debounce === undefined) {
    table.add("watcher debounce", "?", "not found in lib/modules/watcher.ts");
  } else {
    table.add(
      "watcher debounce",
      fmtMs(debounce),
      "DirWatcher's quiet time after the last fs event, in each figure",
    );
  }
  table.print();
}

// ---------------------------------------------------------------------------------------------
// 2. Scrape cost with many series

// The module and the in-process baseline must fill the same series with the same values.
function seriesModule(count: number): string {
  return `import { Gauge } from "prom-client";
const g = new Gauge({ name: "bench_series", help: "Many series.", labelNames: ["series", "shard"] });
export const interval = "10s";
export function process() {
  for (let i = 0; i < ${count}; i++) g.set({ series: "s" + i, shard: "shard" + (i % 16) }, i);
}
`;
}

async function promClientRender(count: number, renders: number): Promise<number> {
  const registry = new Registry();
  const g = new Gauge({
    name: "bench_series",
    help: "Many series.",
    labelNames: ["series", "shard"],
    registers: [registry],
  });
  for (let i = 0; i < count; i++) g.set({ series: "s" + i, shard: "shard" + (i % 16) }, i);
  for (let i = 0; i < 3; i++) await registry.metrics(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < renders; i++) {
    const start = performance.now();
    await registry.metrics();
    times.push(performance.now() - start);
  }
  registry.clear();
  return median(times);
}

async function scrapeCost(
  leftovers: Leftovers,
  summary: string[],
  count: number,
): Promise<void> {
  const label = count >= 1000 ? `${count / 1000}k` : String(count);
  progress(`2 scrape cost, ${label} series`);
  const table = new Table(`2. Scrape cost, one Gauge with ${label} labelled series, interval 10s`);
  const gets = 30;
  const baseline = await promClientRender(count, gets);
  table.add(
    "prom-client register.metrics()",
    fmtMs(baseline),
    `baseline: median of ${gets} renders of a fresh Registry, in this bench process`,
  );

  await withSession(leftovers, { files: { "series.ts": seriesModule(count) } }, async (e) => {
    // The first GET that sees the last series is the first after process() ran: nothing cached.
    const last = `series="s${count - 1}"`;
    let cold: Scrape | undefined;
    await waitFor(async () => {
      const scrape = await timedScrape(e.url);
      if (scrape.text.includes(last)) cold = scrape;
      return cold !== undefined;
    }, { timeoutMs: 60_000, intervalMs: 20 });
    table.add(
      "exporter, first scrape after process()",
      fmtMs(cold!.ms),
      `one sample, ${fmtRatio(cold!.ms / baseline)} baseline: renders the module's fragment anew`,
    );

    // Round-robin over the variants so that noise spreads evenly over them.
    const times: Record<Variant, number[]> = { text: [], gzip: [], openmetrics: [] };
    const bytes: Partial<Record<Variant, number>> = {};
    for (const variant of VARIANT_NAMES) await timedScrape(e.url, variant); // warm-up
    for (let i = 0; i < gets; i++) {
      for (const variant of VARIANT_NAMES) {
        const scrape = await timedScrape(e.url, variant);
        times[variant].push(scrape.ms);
        bytes[variant] = scrape.wireBytes;
      }
    }
    for (const variant of VARIANT_NAMES) {
      const m = median(times[variant]);
      table.add(
        `exporter GET, ${variant}`,
        fmtMs(m),
        `${fmtRatio(m / baseline)} baseline; median of ${gets} back-to-back GETs (max ${
          fmtMs(max(times[variant]))
        }), ${fmtMB(bytes[variant]!)} on the wire`,
      );
    }

    // The whole body is cached for at most 1 s (it carries process_* values), so a Prometheus
    // scraping every 15 s always gets a body re-assembled from cached fragments (and re-gzipped).
    const spaced: Record<Variant, number[]> = { text: [], gzip: [], openmetrics: [] };
    for (let i = 0; i < 5; i++) {
      for (const variant of VARIANT_NAMES) {
        await sleep(1100);
        spaced[variant].push((await timedScrape(e.url, variant)).ms);
      }
    }
    for (const variant of VARIANT_NAMES) {
      const m = median(spaced[variant]);
      table.add(
        `exporter GET >1 s apart, ${variant}`,
        fmtMs(m),
        `${fmtRatio(m / baseline)} baseline; median of 5, body cache expired (as for Prometheus)`,
      );
    }
    const text = median(times.text);
    const gzip = median(times.gzip);
    summary.push(
      `scrape ${label.padEnd(4)} series   exporter ${fmtMs(text)} text / ${fmtMs(gzip)} gzip vs ` +
        `prom-client render ${fmtMs(baseline)}: ${fmtRatio(text / baseline)} / ${fmtRatio(gzip / baseline)}` +
        ` (>1 s apart: ${fmtRatio(median(spaced.text) / baseline)} / ${
          fmtRatio(median(spaced.gzip) / baseline)
        })`,
    );
  });
  table.print();
}

// ---------------------------------------------------------------------------------------------
// 3. Memory

const RSS = "process_resident_memory_bytes";
const HOST_RSS = "dynamic_exporter_host_resident_memory_bytes";

/** The RSS of every module host together, as the server reports them in its self-metrics. */
function hostsRss(samples: Map<string, number>): number {
  let total = 0;
  for (const [key, value] of samples) if (key.startsWith(`${HOST_RSS}{`)) total += value;
  return total;
}

async function idleRss(leftovers: Leftovers, summary: string[], table: Table): Promise<void> {
  const dir = `${ROOT}metrics`;
  const modules = [...Deno.readDirSync(dir)]
    .filter((f) => f.isFile && /^[^._].*\.(ts|js|mts|mjs)$/.test(f.name))
    .map((f) => f.name.replace(/\.[^.]+$/, ""));
  await withSession(leftovers, { metricsDir: dir }, async (e) => {
    // Ready means loaded; wait for each module's first process() run too (success or not).
    let samples = new Map<string, number>();
    await waitFor(async () => {
      samples = parseSamples((await timedScrape(e.url)).text);
      return modules.every((m) =>
        (samples.get(`dynamic_exporter_module_process_duration_seconds{module="${m}"}`) ?? 0) > 0
      );
    }, { timeoutMs: 15_000, intervalMs: 100 });
    const rss = samples.get(RSS)!;
    const hosts = hostsRss(samples);
    table.add(
      "idle RSS, repo's metrics/, server",
      fmtMB(rss),
      `${RSS} once all ${modules.length} example modules (${modules.join(", ")}) have run`,
    );
    table.add(
      "idle RSS, its module hosts",
      fmtMB(hosts),
      `${HOST_RSS}, summed (one shared host); PSS: section 8`,
    );
    summary.push(
      `idle RSS             server ${fmtMB(rss)} + hosts ${
        fmtMB(hosts)
      } with the ${modules.length} example modules`,
    );
  });
}

async function reloadGrowth(leftovers: Leftovers, summary: string[], table: Table): Promise<void> {
  const name = "reloaded";
  const counter = `dynamic_exporter_module_reloads_total{module="${name}",result="success"}`;
  const reloads = 300;
  const files = { [`${name}.ts`]: gaugeModule("bench_reload_value", 1) };
  await withSession(leftovers, { files }, async (e) => {
    let samples = await pollForSample(e.url, counter, 1, { intervalMs: 20, timeoutMs: 10_000 });
    const reloadOnce = async () => {
      const want = samples.get(counter)! + 1;
      e.process.kill("SIGHUP");
      samples = await pollForSample(e.url, counter, want, { intervalMs: 5, timeoutMs: 10_000 });
    };
    for (let i = 0; i < 10; i++) await reloadOnce(); // first reloads fill one-off caches
    // The server and its hosts: the shared host keeps every imported version until it is replaced.
    const total = () => samples.get(RSS)! + hostsRss(samples);
    const before = total();
    const serverBefore = samples.get(RSS)!;
    const times: number[] = [];
    const rss: number[] = [];
    for (let i = 0; i < reloads; i++) {
      const start = performance.now();
      await reloadOnce();
      times.push(performance.now() - start);
      rss.push(total());
    }
    const after = total();
    const perReload = (after - before) / reloads;
    table.add(
      "RSS before reloads",
      fmtMB(before),
      "server + hosts, one small module, after 10 warm-up SIGHUP reloads",
    );
    table.add("RSS after reloads", fmtMB(after), `server + hosts, after ${reloads} more SIGHUP reloads`);
    table.add(
      "server RSS growth per reload",
      fmtKB((samples.get(RSS)! - serverBefore) / reloads),
      `${RSS} alone; the server runs no module code`,
    );
    table.add(
      "RSS growth per reload",
      fmtKB(perReload),
      "server + hosts, (after - before) / reloads; the shared host keeps each version until it is replaced",
    );
    table.add(
      "RSS growth per reload, fitted",
      fmtKB(slope(rss)),
      "least-squares slope over server + hosts RSS after each reload (hosts' as last reported): steadier",
    );
    table.add(
      "SIGHUP -> reload counted, median",
      fmtMs(median(times)),
      `signal to reloads_total increment visible in /metrics (max ${fmtMs(max(times))})`,
    );
    summary.push(
      `RSS per reload       ${fmtKB(perReload)} (fitted ${fmtKB(slope(rss))}) over ${reloads} SIGHUP ` +
        "reloads of a small module, server + hosts",
    );
  });
}

async function memory(leftovers: Leftovers, summary: string[]): Promise<void> {
  progress("3 RSS");
  const table = new Table("3. Resident memory (the server's and its hosts' RSS from its /metrics)");
  await idleRss(leftovers, summary, table);
  await reloadGrowth(leftovers, summary, table);
  table.print();
}

// ---------------------------------------------------------------------------------------------
// 4. node:vm guard

function guardedCallCost(summary: string[]): void {
  progress("4 GuardedCaller vs direct call");
  const table = new Table("4. Calling process() through node:vm (GuardedCaller) vs directly, in-process");
  const calls = 100_000;
  const caller = new GuardedCaller();
  const fn = (arg: unknown) => (arg as number) + 1;
  let sink = 0; // consumed below so that V8 cannot drop the calls

  const direct = () => {
    const start = performance.now();
    for (let i = 0; i < calls; i++) sink += fn(i);
    return performance.now() - start;
  };
  const guarded = () => {
    const start = performance.now();
    for (let i = 0; i < calls; i++) sink += caller.call(fn, i, 5000) as number;
    return performance.now() - start;
  };
  for (let i = 0; i < 10_000; i++) sink += fn(i) + (caller.call(fn, i, 5000) as number); // warm-up
  const directNs = direct() * 1e6 / calls;
  const guardedNs = guarded() * 1e6 / calls;
  if (sink === 0) throw new Error("unreachable");

  table.add("direct call", `${directNs.toFixed(1)} ns`, `baseline: fn(arg), per call over ${calls} calls`);
  table.add(
    "GuardedCaller.call",
    `${guardedNs.toFixed(0)} ns`,
    "vm.Script.runInContext with a timeout, per call",
  );
  table.add(
    "guarded / direct",
    fmtRatio(guardedNs / directNs),
    "large because the baseline is a bare loop step; the next line is what counts",
  );
  table.add(
    "overhead per call",
    `${((guardedNs - directNs) / 1000).toFixed(1)} us`,
    "what each process() run pays for being interruptible",
  );
  table.print();
  summary.push(
    `node:vm guard        ${(guardedNs / 1000).toFixed(1)} us per call vs ${directNs.toFixed(1)} ns direct ` +
      `(${fmtRatio(guardedNs / directNs)})`,
  );
}

// ---------------------------------------------------------------------------------------------
// 5. Basic auth: what bcrypt costs a scrape, first and cached

/**
 * ms of one GET of /metrics per entry of `authorizations`, one after another (so no bcrypt
 * waits behind another), each checked to answer `status`.
 */
async function authScrapes(url: string, authorizations: string[], status: number): Promise<number[]> {
  const times: number[] = [];
  for (const authorization of authorizations) {
    const start = performance.now();
    const response = await fetch(`${url}/metrics`, { headers: { ...VARIANTS.text, authorization } });
    await response.arrayBuffer();
    times.push(performance.now() - start);
    if (response.status !== status) throw new Error(`GET /metrics: ${response.status}, want ${status}`);
  }
  return times;
}

async function basicAuthCost(leftovers: Leftovers, summary: string[]): Promise<void> {
  progress("5 basic auth");
  const table = new Table("5. Scrape with basic auth (bcrypt cost 10 and 12), one small module");
  const files = { "small.ts": gaugeModule("bench_small", 1) };
  const baseline = median(await withSession(leftovers, { files }, (e) => scrapeTimes(e.url, 30)));
  table.add("no web config", fmtMs(baseline), "baseline: median of 30 scrapes");
  for (const cost of [10, 12]) {
    const users = 5;
    const passwords = Array.from({ length: users }, (_, i) => `password-${i}`);
    const hashes = await Promise.all(passwords.map((p) => bcrypt.hash(p, cost)));
    const dir = await Deno.makeTempDir({ prefix: "dx_bench_web_" });
    leftovers.dirs.add(dir);
    const yaml = `basic_auth_users:\n${hashes.map((h, i) => `  user${i}: ${h}\n`).join("")}`;
    await Deno.writeTextFile(`${dir}/web.yml`, yaml);
    const auth = (i: number) => `Basic ${btoa(`user${i}:${passwords[i]}`)}`;
    const { first, cached, wrong } = await withSession(
      leftovers,
      { files, args: [`--web.config.file=${dir}/web.yml`] },
      async (e) => ({
        // Each user's first scrape pays bcrypt; later ones hit the cache of successful checks.
        first: await authScrapes(e.url, passwords.map((_, i) => auth(i)), 200),
        cached: await authScrapes(e.url, Array(30).fill(auth(0)), 200),
        wrong: await authScrapes(e.url, Array(3).fill(`Basic ${btoa("user0:wrong")}`), 401),
      }),
    );
    await Deno.remove(dir, { recursive: true });
    leftovers.dirs.delete(dir);
    table.add(
      `cost ${cost}, first scrape`,
      fmtMs(median(first)),
      `${fmtRatio(median(first) / baseline)} baseline; median over ${users} users`,
    );
    table.add(
      `cost ${cost}, cached`,
      fmtMs(median(cached)),
      `${fmtRatio(median(cached) / baseline)} baseline; median of 30`,
    );
    table.add(
      `cost ${cost}, wrong password`,
      fmtMs(median(wrong)),
      "401; never cached, pays bcrypt every time",
    );
    summary.push(
      `basic auth cost ${cost}   first ${fmtMs(median(first))} (${fmtRatio(median(first) / baseline)}), ` +
        `cached ${fmtMs(median(cached))} (${fmtRatio(median(cached) / baseline)}) vs ${
          fmtMs(baseline)
        } without auth`,
    );
  }
  table.print();
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values: args } = parseArgs({
    args: Deno.args,
    options: { quick: { type: "boolean", default: false }, only: { type: "string" } },
  });
  const only = args.only;
  if (only !== undefined && only !== "side" && only !== "hosts" && only !== "probes") {
    throw new Error(`--only: "${only}" is none of "side", "hosts" and "probes"`);
  }
  const began = performance.now();
  const leftovers = new Leftovers();
  const onInterrupt = async () => {
    await leftovers.clear();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  const summary: string[] = [];
  console.log(
    `dynamic_exporter bench, Deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} CPUs; ` +
      "times are noisy, compare the ratios",
  );
  try {
    if (only === undefined) {
      await saveToVisible(leftovers, summary, args.quick);
      await scrapeCost(leftovers, summary, 10_000);
      if (performance.now() - began < SKIP_LARGE_AFTER_MS) {
        await scrapeCost(leftovers, summary, 100_000);
      } else {
        summary.push("scrape 100k series   skipped: the run was already too long");
      }
      await memory(leftovers, summary);
      guardedCallCost(summary);
      await basicAuthCost(leftovers, summary);
    }
    if (only === undefined || only === "hosts") {
      await hostsBench({ track: leftovers, summary, quick: args.quick });
    }
    if (only === undefined || only === "probes") {
      await probesBench({ track: leftovers, summary, quick: args.quick });
    }
    const side = only === undefined || only === "side";
    if (side && await hasWrk()) {
      await sideBySide({
        durationS: 1,
        rounds: args.quick ? 1 : ROUNDS,
        // 1M before issue 21; now a run may hand back no more than this.
        sizes: [1_000, 10_000, 100_000, MAX_SANDBOXED_SAMPLES],
        track: leftovers,
        summary,
      });
    } else if (side) {
      summary.push("side by side        skipped: wrk is not installed (sudo apt-get install wrk)");
    }
  } finally {
    await leftovers.clear();
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
  console.log("\n== Summary (ratios are within this run; lower is better)");
  for (const line of summary) console.log(`  ${line}`);
  console.log(`  total bench time     ${((performance.now() - began) / 1000).toFixed(0)} s`);
  if (only === undefined) await sandboxBench();
}

if (import.meta.main) await main();
