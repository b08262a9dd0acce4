/**
 * What a sandboxed module costs next to the same module in the shared host, measured in one
 * run: memory per module (RSS and PSS of the server and all its hosts), start-up time per module
 * and the latency a scrape gains. Each sandboxed module runs in a host process of its own; the
 * others share one. The machine is shared and noisy: read the differences and ratios, not the
 * absolute times.
 *
 * Run: `deno task bench` runs it last (about half a minute), or `deno run … bench/sandbox_bench.ts` alone.
 */

import { type Exporter, gaugeModule, scrape, startExporter, tempMetricsDir } from "../tests/_server.ts";
import { memoryOf, processTree } from "./_proc.ts";

/** Modules per exporter: enough that per-module costs stand out of the exporter's own. */
const MODULES = 10;
const SCRAPES = 300;

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

interface Measure {
  startupMs: number;
  /** RSS of the server and its hosts, summed (pages they share counted in each). */
  rssBytes: number;
  /** PSS of the server and its hosts, summed. */
  pssBytes: number;
  p50Ms: number;
  p99Ms: number;
}

async function measure(sandboxed: boolean): Promise<Measure> {
  const files: Record<string, string> = {};
  for (let i = 0; i < MODULES; i++) {
    files[`m${i}.ts`] = gaugeModule(`bench_module_${i}`, i, sandboxed ? "export const sandbox = {};" : "");
  }
  const dir = await tempMetricsDir(files);
  const started = performance.now();
  let exporter: Exporter | undefined;
  try {
    exporter = await startExporter({ metricsDir: dir, args: ["--log.level=info"] });
    await exporter.waitForLog((r) => r.msg === "metrics dir loaded; ready", 60_000);
    const startupMs = performance.now() - started;
    // Every module has served (its first run succeeded), so each host is warm.
    for (;;) {
      const samples = await scrape(exporter.url);
      if (samples.has(`bench_module_${MODULES - 1}`) && samples.has("bench_module_0")) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const times: number[] = [];
    for (let i = 0; i < SCRAPES; i++) {
      const start = performance.now();
      const response = await fetch(`${exporter.url}/metrics`, { headers: { "accept-encoding": "identity" } });
      await response.arrayBuffer();
      times.push(performance.now() - start);
    }
    let rssBytes = 0;
    let pssBytes = 0;
    for (const { pid } of await processTree(exporter.process.pid)) {
      const memory = await memoryOf(pid);
      rssBytes += memory?.rss ?? 0;
      pssBytes += memory?.pss ?? 0;
    }
    return { startupMs, rssBytes, pssBytes, p50Ms: quantile(times, 0.5), p99Ms: quantile(times, 0.99) };
  } finally {
    await exporter?.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
}

export async function sandboxBench(): Promise<void> {
  console.error(`bench: ${MODULES} modules in the shared host, then ${MODULES} sandboxed ones`);
  // Alternate, twice, so that a noisy moment does not land on one side only.
  const runs: { shared: Measure; sandboxed: Measure }[] = [];
  for (let round = 0; round < 2; round++) {
    runs.push({ shared: await measure(false), sandboxed: await measure(true) });
  }
  const best = (pick: (m: Measure) => number, side: "shared" | "sandboxed") =>
    Math.min(...runs.map((run) => pick(run[side])));
  const row = (label: string, pick: (m: Measure) => number, unit: (n: number) => string) => {
    const a = best(pick, "shared");
    const b = best(pick, "sandboxed");
    return `| ${label} | ${unit(a)} | ${unit(b)} | ${unit((b - a) / MODULES)} per module | ${
      (b / a).toFixed(2)
    }x |`;
  };
  const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;
  const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 0)} ms`;
  console.log(`\n## Sandboxed modules (${MODULES} per exporter, best of 2 rounds)\n`);
  console.log(`| figure | shared host | sandboxed (a host each) | difference | ratio |`);
  console.log(`| --- | --- | --- | --- | --- |`);
  console.log(row("RSS after the first runs, server + hosts", (m) => m.rssBytes, mb));
  console.log(row("PSS after the first runs, server + hosts", (m) => m.pssBytes, mb));
  console.log(row("start to ready", (m) => m.startupMs, ms));
  const a = best((m) => m.p50Ms, "shared");
  const b = best((m) => m.p50Ms, "sandboxed");
  console.log(`| scrape p50 | ${ms(a)} | ${ms(b)} | ${ms(b - a)} per scrape | ${(b / a).toFixed(2)}x |`);
  const a99 = best((m) => m.p99Ms, "shared");
  const b99 = best((m) => m.p99Ms, "sandboxed");
  console.log(
    `| scrape p99 | ${ms(a99)} | ${ms(b99)} | ${ms(b99 - a99)} per scrape | ${(b99 / a99).toFixed(2)}x |`,
  );
}

if (import.meta.main) await sandboxBench();
