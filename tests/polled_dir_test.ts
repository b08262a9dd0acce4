/**
 * End to end: a metrics dir that holds a FIFO, which the watcher polls instead of watching
 * (lib/modules/watcher.ts). Issue 18, defect 6: a module deleted within a second of being loaded
 * stayed served in 3 of 15 runs.
 */

import assert from "node:assert/strict";
import { gaugeModule, startExporter, tempMetricsDir, waitForSample } from "./_server.ts";

async function mkfifo(path: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("mkfifo", { args: [path], stderr: "piped" }).output();
  if (code !== 0) throw new Error(`mkfifo ${path}: ${new TextDecoder().decode(stderr)}`);
}

// Each run starts an exporter with the FIFO there (the race was in the first poll after start);
// lib/modules/watcher_test.ts covers a module that comes and goes between two later polls.
const RUNS = 10;

Deno.test(`in a polled dir, a module deleted right after it was served goes, ${RUNS} runs in a row`, async () => {
  for (let run = 1; run <= RUNS; run++) {
    const dir = await tempMetricsDir({ "healthy.ts": gaugeModule("healthy_value", 1) });
    await mkfifo(`${dir}/status.fifo`);
    const e = await startExporter({ metricsDir: dir });
    try {
      await e.waitForLog((r) => r.msg.startsWith("metrics dir holds a FIFO"));
      await Deno.writeTextFile(`${dir}/later.ts`, gaugeModule("later_value", run));
      await waitForSample(e.url, "later_value", run, 5000);
      await Deno.remove(`${dir}/later.ts`);
      let samples = new Map<string, number>();
      try {
        samples = await waitForSample(e.url, "later_value", undefined, 5000);
      } catch (err) {
        throw new Error(`run ${run}: later.ts was deleted but is still served 5 s later`, { cause: err });
      }
      assert.equal(samples.get("healthy_value"), 1, `run ${run}`);
    } finally {
      await e.stop("SIGKILL");
      await Deno.remove(dir, { recursive: true });
    }
  }
});
