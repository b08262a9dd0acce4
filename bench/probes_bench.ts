/**
 * What `GET /probe` adds over calling a module's probe() directly (issue 20): p50 and p99 at
 * 16 calls at once against a fake JSON target on loopback, through the real exporter (the
 * request, the checks, the call into the module's host and back, the exposition) and, as the
 * baseline in the same run, the same probe() imported into this process and called with a
 * registry of its own, its registry rendered as the exporter renders it. The fake target and
 * the load both run in this process, for both.
 */

import { pathToFileURL } from "node:url";
import { Registry } from "prom-client";
import { startExporter, tempMetricsDir } from "../tests/_server.ts";
import { printTable, type Tracked } from "./side_by_side.ts";

const progress = (message: string) => console.error(`bench: ${message}`);
const ms = (x: number): string => `${x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0)} ms`;
const ratio = (r: number): string => `${r.toFixed(r < 10 ? 2 : 1)}x`;

/** Calls at once: the module's default concurrency, as many as a /probe of one module takes. */
const CONCURRENCY = 16;

/**
 * The probe under test, a json_exporter-like one. Each of the CONCURRENCY workers probes a
 * target of its own (/t/<worker>): identical probes in flight would share one call.
 */
const MODULE = `import { Gauge } from "prom-client";
export const targets = /http:\\/\\/127\\.0\\.0\\.1:\\d+\\/t\\/\\d+/;
export const concurrency = ${CONCURRENCY};
export async function probe(target, ctx) {
  const value = new Gauge({ name: "bench_probe_value", help: "What the target served.", registers: [ctx.registry] });
  const response = await fetch(target, { signal: ctx.signal });
  value.set((await response.json()).value);
}
`;

export interface ProbesBenchOptions {
  track: Tracked;
  summary: string[];
  /** Fewer calls per worker. */
  quick: boolean;
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

/** Latencies of `perWorker` calls by each of CONCURRENCY workers, each call after its worker's last. */
async function atConcurrency(perWorker: number, call: (worker: number) => Promise<void>): Promise<number[]> {
  const latencies: number[] = [];
  await Promise.all(Array.from({ length: CONCURRENCY }, async (_, worker) => {
    for (let i = 0; i < perWorker; i++) {
      const start = performance.now();
      await call(worker);
      latencies.push(performance.now() - start);
    }
  }));
  return latencies;
}

export async function probesBench(options: ProbesBenchOptions): Promise<void> {
  const { track, summary } = options;
  progress("11 probe latency, /probe vs probe() called directly");
  const perWorker = options.quick ? 20 : 100;
  const rounds = options.quick ? 1 : 3;
  const target = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json({ value: 1 }),
  );
  const server = { stop: () => target.shutdown() };
  track.servers.add(server);
  const dir = await tempMetricsDir({ "bench_probe.ts": MODULE });
  track.dirs.add(dir);
  const targetOf = (worker: number) => `http://127.0.0.1:${target.addr.port}/t/${worker}`;
  try {
    // The baseline: the module's own probe(), imported here from the same file.
    const { probe } = await import(pathToFileURL(`${dir}/bench_probe.ts`).href);
    const signal = new AbortController().signal;
    const log = { debug() {}, info() {}, warn() {}, error() {} };
    const direct = async (worker: number) => {
      const registry = new Registry();
      await probe(targetOf(worker), { registry, params: {}, signal, log, module: "bench_probe" });
      await registry.metrics();
    };
    const e = await startExporter({ metricsDir: dir, args: ["--log.level=info"] });
    track.exporters.add(e);
    try {
      const viaExporter = async (worker: number) => {
        const url = `${e.url}/probe?module=bench_probe&target=${encodeURIComponent(targetOf(worker))}`;
        const response = await fetch(url, { headers: { "accept-encoding": "identity" } });
        const body = await response.text();
        if (response.status !== 200 || !body.includes("\nprobe_success 1\n")) {
          throw new Error(`GET /probe: ${response.status} ${body.slice(0, 300)}`);
        }
      };
      // Until the module is loaded, then a warm-up of each.
      const deadline = performance.now() + 30_000;
      while (true) {
        try {
          await viaExporter(0);
          break;
        } catch (err) {
          if (performance.now() > deadline) throw err;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      await atConcurrency(3, direct);
      await atConcurrency(3, viaExporter);
      // Rounds alternate, so that the machine's noise falls on both alike.
      const times = { direct: [] as number[], exporter: [] as number[] };
      for (let round = 0; round < rounds; round++) {
        times.direct.push(...await atConcurrency(perWorker, direct));
        times.exporter.push(...await atConcurrency(perWorker, viaExporter));
      }
      const [d50, d99] = [quantile(times.direct, 0.5), quantile(times.direct, 0.99)];
      const [x50, x99] = [quantile(times.exporter, 0.5), quantile(times.exporter, 0.99)];
      const calls = String(times.direct.length);
      printTable(
        `11. Probe latency at concurrency ${CONCURRENCY}: GET /probe vs probe() called directly`,
        ["", "p50", "p99", "calls"],
        [
          { name: "probe() called directly, in this process", cells: [ms(d50), ms(d99), calls] },
          { name: "GET /probe through the exporter", cells: [ms(x50), ms(x99), calls] },
          { name: "added by the exporter", cells: [ms(x50 - d50), ms(x99 - d99), ""] },
          { name: "/probe over direct", cells: [ratio(x50 / d50), ratio(x99 / d99), ""] },
        ],
        [
          `Each of ${CONCURRENCY} workers probes a loopback target of its own (no shared calls), one call after another;`,
          `${rounds} round(s) of ${perWorker} calls per worker, direct and /probe alternating. Direct: a fresh Registry,`,
          "probe(), registry.metrics(). /probe: an HTTP GET to the exporter, checks, the call in its shared host, the",
          "exposition back; the fake target and the load run in this bench process for both.",
        ],
      );
      summary.push(
        `probe latency c=${CONCURRENCY}    GET /probe p50 ${ms(x50)}, p99 ${ms(x99)} vs probe() direct p50 ${
          ms(d50)
        }, p99 ${ms(d99)}: +${ms(x50 - d50)} / +${ms(x99 - d99)} (${ratio(x50 / d50)} / ${ratio(x99 / d99)})`,
      );
    } finally {
      await e.stop("SIGKILL");
      track.exporters.delete(e);
    }
  } finally {
    await server.stop();
    track.servers.delete(server);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    track.dirs.delete(dir);
  }
}
