/**
 * Reloads one small module 300 times and prints the exporter's RSS growth per reload.
 * Module code runs in the shared module host, which is replaced every few reloads (V8 never
 * unloads a module); this measures what each reload costs the exporter itself, and fails only
 * on a gross leak. A replaced host that counted as a crash backed off until a reload took
 * longer than the test waits.
 */

import assert from "node:assert/strict";
import { gaugeModule, scrape, waitFor, withExporter } from "./_server.ts";

const RELOADS = 300;
const RSS = "process_resident_memory_bytes";
const SUCCESS = 'dynamic_exporter_module_reloads_total{module="small",result="success"}';

Deno.test("300 reloads of a small module: RSS growth per reload", async () => {
  await withExporter({ "small.ts": gaugeModule("small_value", 1) }, async (e) => {
    await waitFor(async () => (await scrape(e.url)).get(SUCCESS) === 1);
    // Warm up allocator and JIT so the figure is about reloads, not start-up.
    for (let i = 2; i <= 21; i++) {
      e.process.kill("SIGHUP");
      await waitFor(async () => (await scrape(e.url)).get(SUCCESS) === i, { intervalMs: 5 });
    }
    const before = (await scrape(e.url)).get(RSS)!;
    for (let i = 22; i < 22 + RELOADS; i++) {
      e.process.kill("SIGHUP");
      await waitFor(async () => (await scrape(e.url)).get(SUCCESS) === i, { intervalMs: 5 });
    }
    // Every reload changes the body, so this scrape renders process_* afresh.
    const after = (await scrape(e.url)).get(RSS)!;
    const perReload = (after - before) / RELOADS;
    console.log(
      `reload memory: RSS ${(before / 2 ** 20).toFixed(1)} MiB -> ${
        (after / 2 ** 20).toFixed(1)
      } MiB over ${RELOADS} reloads = ${(perReload / 1024).toFixed(1)} KiB per reload`,
    );
    assert.equal((await scrape(e.url)).get("small_value"), 1);
    // A gross leak (a registry or module graph copied per reload) would be megabytes each.
    assert.ok(perReload < 512 * 1024, `RSS grew ${perReload} bytes per reload`);
  });
});
