/**
 * End to end: what the exporter serves is what modules measured (issue 7): no series before a
 * version's first success, the last good values across a reload, retries with backoff, timeouts
 * that never wedge a module, errors that say why; and long durations that do not overflow timers.
 */

import assert from "node:assert/strict";
import {
  gaugeModule,
  observationWindow,
  scrape,
  ScrapeTimer,
  waitFor,
  waitForSample,
  withExporter,
} from "./_server.ts";
import { errors, lastSuccess, loadOk, up } from "./_samples.ts";

/** A module with a Gauge, a Counter and a labelled Gauge whose process() throws after setting them. */
const ALWAYS_THROWS = `import { Counter, Gauge } from "prom-client";
const g = new Gauge({ name: "throws_gauge", help: "h" });
const c = new Counter({ name: "throws_counter", help: "h" });
export function process() { g.set(1); c.inc(); throw new Error("backend down"); }
`;

Deno.test("a module whose process() always throws never serves its Gauge or Counter", async () => {
  await withExporter({ "bad.ts": ALWAYS_THROWS, "good.ts": gaugeModule("good_value", 3) }, async (e) => {
    let samples = new Map<string, number>();
    const served = new Set<string>();
    await waitFor(async () => {
      samples = await scrape(e.url);
      for (const name of samples.keys()) if (name.startsWith("throws_")) served.add(name);
      return (samples.get(errors("bad", "error")) ?? 0) >= 2;
    }, { timeoutMs: 10_000 });
    assert.deepEqual([...served], []);
    assert.equal(samples.get(up("bad")), 0);
    assert.equal(samples.get("good_value"), 3);
  });
});

Deno.test("a module's gauge is absent while its first run is in flight, then shows its value", async () => {
  const slow = gaugeModule("slow_value", 4).replace(
    "export function process() {",
    "export async function process() { await new Promise((r) => setTimeout(r, 2500));",
  );
  await withExporter({ "slow.ts": slow }, async (e) => {
    await e.waitForLog((r) => r.msg === "module loaded" && r.module === "slow");
    const during = await scrape(e.url);
    assert.equal(during.has("slow_value"), false);
    assert.equal(during.get(up("slow")), 0);
    await waitForSample(e.url, "slow_value", 4, 8000);
  }, { args: ["--collect.timeout=5s"] });
});

Deno.test("a reload keeps the last good value until the new version succeeds", async () => {
  const throwing = `import { Gauge } from "prom-client";
const g = new Gauge({ name: "kept_value", help: "h" });
export function process() { g.set(0); throw new Error("api down"); }
`;
  await withExporter({ "m.ts": gaugeModule("kept_value", 5) }, async (e, dir) => {
    await waitForSample(e.url, "kept_value", 5);
    await Deno.writeTextFile(`${dir}/m.ts`, throwing);
    await e.waitForLog((r) => r.msg === "module reloaded" && r.module === "m");
    let samples = new Map<string, number>();
    const seen = new Set<number | undefined>();
    await waitFor(async () => {
      samples = await scrape(e.url);
      seen.add(samples.get("kept_value"));
      return (samples.get(errors("m", "error")) ?? 0) >= 2;
    }, { timeoutMs: 10_000 });
    assert.deepEqual([...seen], [5], "the previous value must keep serving at every scrape");
    assert.equal(samples.get(up("m")), 0);
    assert.equal(samples.get(loadOk("m")), 1);

    await Deno.writeTextFile(`${dir}/m.ts`, gaugeModule("kept_value", 9));
    samples = await waitForSample(e.url, "kept_value", 9, 5000);
    assert.equal(samples.get(up("m")), 1);
  });
});

Deno.test("a failing module with a 1h interval is retried with backoff and recovers soon after its backend", async () => {
  const flag = await Deno.makeTempFile({ prefix: "dx_backend_" });
  await Deno.writeTextFile(flag, "down");
  const hourly = `import { Counter } from "prom-client";
const runs = new Counter({ name: "hourly_runs_total", help: "h" });
export const interval = "1h";
export async function process() {
  runs.inc();
  if ((await Deno.readTextFile(${JSON.stringify(flag)})).trim() !== "ok") throw new Error("backend down");
}
`;
  try {
    await withExporter({ "hourly.ts": hourly }, async (e) => {
      await e.waitForLog((r) => r.msg === "module loaded" && r.module === "hourly");
      // The first 10 s of failure: retried, but with backoff (1 s, 2 s, 4 s: 4 runs).
      await observationWindow(10_000);
      const failed = (await scrape(e.url)).get(errors("hourly", "error")) ?? 0;
      assert.ok(failed >= 3 && failed <= 8, `${failed} runs in the first 10 s`);

      await Deno.writeTextFile(flag, "ok");
      const recovering = performance.now();
      const samples = await waitForSample(e.url, up("hourly"), 1, 40_000);
      const seconds = (performance.now() - recovering) / 1000;
      console.log(
        `hourly module: up ${seconds.toFixed(1)} s after its backend recovered, ${failed} runs in 10 s`,
      );
      assert.equal(samples.get("hourly_runs_total"), failed + 1);

      // Back on its hourly grid: no further run in the next 3 s.
      const at = samples.get(lastSuccess("hourly"));
      await observationWindow(3000);
      const later = await scrape(e.url);
      assert.equal(later.get(lastSuccess("hourly")), at);
      assert.equal(later.get("hourly_runs_total"), failed + 1);
    });
  } finally {
    await Deno.remove(flag);
  }
});

Deno.test("a process() that never settles times out again and again, and then is reported stuck", async () => {
  const hangs = `export function process() { return new Promise(() => {}); }\n`;
  const ticking = `import { Counter } from "prom-client";
const c = new Counter({ name: "ticks_total", help: "h" });
export const interval = "500ms";
export function process() { c.inc(); }
`;
  await withExporter({ "hangs.ts": hangs, "ticking.ts": ticking }, async (e) => {
    const start = performance.now();
    const timer = new ScrapeTimer(e.url);
    let samples = new Map<string, number>();
    let ticks = 0;
    await waitFor(async () => {
      samples = await timer.scrape();
      return (samples.get(errors("hangs", "timeout")) ?? 0) >= 2;
    }, { timeoutMs: 8000, intervalMs: 200 });
    assert.ok(performance.now() - start < 8000);
    assert.ok(timer.slowestMs < 1000, `a scrape took ${timer.slowestMs.toFixed(0)} ms`);
    ticks = samples.get("ticks_total")!;
    await waitFor(async () => ((await scrape(e.url)).get("ticks_total") ?? 0) > ticks, { timeoutMs: 3000 });

    const stuck = await e.waitForLog((r) => r.msg.startsWith("module stuck") && r.module === "hangs", 15_000);
    assert.match(String(stuck.hint), /ctx\.signal/);
    const page = await fetch(`${e.url}/`).then((r) => r.text());
    assert.match(page, /<td><a href="module\?name=hangs">hangs<\/a><\/td><td>stuck<\/td>/);
    const after = await scrape(e.url);
    assert.equal(after.get(errors("hangs", "timeout")), 3);
    assert.equal(after.get(up("hangs")), 0);
  }, { args: ["--collect.timeout=1s"] });
});

Deno.test("an error's cause chain is in the log line and on the status page", async () => {
  const module = `export function process() {
  throw new TypeError("fetch failed", { cause: new Error("tcp connect error: Connection refused (os error 111)") });
}
`;
  await withExporter({ "api.ts": module }, async (e) => {
    const line = await e.waitForLog((r) => r.msg === "module run failed" && r.module === "api");
    assert.equal(line.err, "fetch failed: caused by: tcp connect error: Connection refused (os error 111)");
    const page = await fetch(`${e.url}/`).then((r) => r.text());
    assert.match(
      page,
      /run: fetch failed: caused by: tcp connect error: Connection refused \(os error 111\)/,
    );
  });
});

Deno.test("an interval and a timeout past 24.8 days run on time, not every millisecond", async () => {
  const monthly = `import { Counter } from "prom-client";
const c = new Counter({ name: "monthly_runs_total", help: "h" });
export const interval = "30d";
export const timeout = "30d";
export async function process() { await new Promise((r) => setTimeout(r, 200)); c.inc(); }
`;
  await withExporter({ "monthly.ts": monthly }, async (e) => {
    await waitForSample(e.url, "monthly_runs_total", 1, 5000);
    await observationWindow(1500);
    const samples = await scrape(e.url);
    assert.equal(samples.get("monthly_runs_total"), 1);
    assert.equal(samples.get(errors("monthly", "timeout")), 0);
    assert.equal(samples.get('dynamic_exporter_module_interval_seconds{module="monthly"}'), 30 * 86400);
    // Node's warning reaches the log from the exporter (stderr) or from the module's host (a log record).
    const lines = [...e.output, ...e.logs.map((r) => JSON.stringify(r))];
    assert.deepEqual(lines.filter((l) => /TimeoutOverflowWarning/.test(l)), []);
  });
});

Deno.test("an interval export past a year is a load error that says so", async () => {
  await withExporter({ "m.ts": gaugeModule("m_value", 1, `export const interval = "2y";`) }, async (e) => {
    const line = await e.waitForLog((r) => r.msg === "module load failed" && r.module === "m");
    assert.equal(line.err, `its "interval" export is an invalid duration "2y": at most 1y`);
  });
});
