/**
 * prom-client's own memory for N series, as `deno task bench` sets them beside the exporter's
 * (issue 10): a fresh process fills one Gauge with N labelled series, the same as the bench
 * module, and prints the RSS and V8 heap it grew by, after a full GC on both sides.
 *
 * Run: deno run --v8-flags=--expose-gc bench/prom_client_rss.ts <series>
 */

import { Gauge, Registry } from "prom-client";

const count = Number(Deno.args[0]);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const registry = new Registry();
const g = new Gauge({
  name: "bench_series",
  help: "Many series.",
  labelNames: ["series", "shard"],
  registers: [registry],
});
gc();
const before = Deno.memoryUsage();
for (let i = 0; i < count; i++) g.set({ series: "s" + i, shard: "shard" + (i % 16) }, i);
gc();
const after = Deno.memoryUsage();
// Read the registry after measuring, so that nothing above is dead to the GC.
const alive = registry.getSingleMetric("bench_series") === g;
console.log(JSON.stringify({ rss: after.rss - before.rss, heap: after.heapUsed - before.heapUsed, alive }));
