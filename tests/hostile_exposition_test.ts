/**
 * End to end, issue 8 items 6, 8, 9, 10 and 11: whatever a module does, what is served stays a
 * valid exposition, and no module reaches another's metrics. Each case runs a healthy module next
 * to the hostile one and checks that it keeps updating and that promtool accepts the body.
 */

import assert from "node:assert/strict";
import { hasCommand, promtoolCheck } from "./_promtool.ts";
import { type Prometheus, startPrometheus } from "./_prometheus.ts";
import {
  type Exporter,
  parseSamples,
  scrape,
  waitAbove,
  waitFor,
  waitForSample,
  withExporter,
} from "./_server.ts";
import { lastSuccess, loadOk, up } from "./_samples.ts";

const hasPromtool = await hasCommand("promtool");
if (!hasPromtool) console.warn("promtool is not installed: bodies are checked by the test's own parser only");
const hasPrometheus = await hasCommand("prometheus");
if (!hasPrometheus) console.warn("skipping the Prometheus scrape test: prometheus is not installed");

/** Counts its own runs, every 100ms. */
const HEALTHY = `import { Counter } from "prom-client";
const runs = new Counter({ name: "healthy_runs_total", help: "Runs of the healthy module." });
export const interval = "100ms";
export function process() { runs.inc(); }
`;

/** The healthy module's counter grows after this call starts. */
async function assertHealthyUpdating(e: Exporter): Promise<void> {
  const before = (await scrape(e.url)).get("healthy_runs_total") ?? 0;
  await waitFor(async () => ((await scrape(e.url)).get("healthy_runs_total") ?? 0) > before, {
    timeoutMs: 10_000,
    message: () => `healthy_runs_total stayed at ${before}`,
  });
}

/** The body in the text format, after promtool (when installed) parsed it without error. */
async function validBody(e: Exporter): Promise<string> {
  const body = await (await fetch(`${e.url}/metrics`)).text();
  if (hasPromtool) {
    const { code, stdout, stderr } = await promtoolCheck(body);
    // Exit 3 is lint advice only (a counter without _total); 1 with "error while linting" is a
    // body Prometheus' parser rejects.
    assert.ok(code === 0 || code === 3, `promtool exit ${code}: ${stderr}${stdout}\n${body}`);
    assert.doesNotMatch(stderr, /error/);
  }
  return body;
}

/** The distinct sample and family names of a text body, to check that no name is served twice. */
function familyNames(body: string): string[] {
  return body.split("\n").filter((l) => l.startsWith("# TYPE ")).map((l) => l.split(" ")[2]);
}

Deno.test("metrics registered in dispose() go with the deleted module and free their name", async () => {
  const disposing = `import { Gauge } from "prom-client";
export function process() {}
export function dispose() {
  new Gauge({ name: "left_behind", help: "Registered while retiring." }).set(1);
}
`;
  await withExporter({ "disposing.ts": disposing, "healthy.ts": HEALTHY }, async (e, dir) => {
    await waitForSample(e.url, loadOk("disposing"), 1);
    await Deno.remove(`${dir}/disposing.ts`);
    await e.waitForLog((r) => r.msg === "module unloaded" && r.module === "disposing");
    assert.equal((await scrape(e.url)).has("left_behind"), false);
    // The name is free again for another module.
    await Deno.writeTextFile(
      `${dir}/taker.ts`,
      `import { Gauge } from "prom-client";
const g = new Gauge({ name: "left_behind", help: "Now owned by taker." });
export function process() { g.set(2); }
`,
    );
    await waitForSample(e.url, "left_behind", 2, 5000);
    assert.equal((await scrape(e.url)).get(loadOk("taker")), 1);
    await assertHealthyUpdating(e);
    await validBody(e);
  });
});

Deno.test("a metric registered with a __name__ label fails the module's load, naming the label", async () => {
  const bad = `import { Gauge } from "prom-client";
const g = new Gauge({ name: "bad_label", help: "h", labelNames: ["__name__"] });
export function process() { g.set({ __name__: "x" }, 1); }
`;
  await withExporter({ "bad.ts": bad, "healthy.ts": HEALTHY }, async (e) => {
    const failure = await e.waitForLog((r) => r.msg === "module load failed" && r.module === "bad");
    assert.match(String(failure.err), /label name "__name__" must not start with "__"/);
    assert.equal((await scrape(e.url)).get(loadOk("bad")), 0);
    await assertHealthyUpdating(e);
    await validBody(e);
  });
});

// Hand-built metrics: registration cannot see their labels, only the render can.
const FORGED = `import { register, Gauge } from "prom-client";
const fine = new Gauge({ name: "forged_fine", help: "A valid family of the same module." });
const family = (name, labels) => ({ name, help: "h", type: "gauge", values: [{ labels, value: 1 }] });
register.registerMetric({ name: "forged_name_label", get: async () => family("forged_name_label", { __name__: "x" }) });
register.registerMetric({ name: "forged_bad_label", get: async () => family("forged_bad_label", { "a-b": "x" }) });
register.registerMetric({ name: "forged_bad_name", get: async () => family("forged bad", {}) });
export function process() { fine.set(5); }
`;

Deno.test("families a module builds with invalid names are left out, and the rest of the scrape stays valid", async () => {
  await withExporter({ "forged.ts": FORGED, "healthy.ts": HEALTHY }, async (e) => {
    const samples = await waitForSample(e.url, "forged_fine", 5);
    assert.equal(samples.get(up("forged")), 0);
    const body = await validBody(e);
    assert.doesNotMatch(body, /forged_name_label|forged_bad_label|forged bad/);
    const failure = await e.waitForLog((r) =>
      r.msg === "module metrics failed to render; its families are left out" && r.module === "forged"
    );
    assert.match(String(failure.err), /label name "__name__" must not start with "__"/);
    assert.match(String(failure.err), /label name "a-b" must match/);
    assert.match(String(failure.err), /metric name "forged bad" must match/);
    await assertHealthyUpdating(e);
  });
});

Deno.test({
  name: "a real Prometheus keeps scraping the target while a module builds families with invalid names",
  ignore: !hasPrometheus,
  async fn() {
    await withExporter({ "forged.ts": FORGED, "healthy.ts": HEALTHY }, async (e) => {
      await waitForSample(e.url, "forged_fine", 5);
      let prometheus: Prometheus | undefined;
      try {
        prometheus = await startPrometheus(
          `global: { scrape_interval: 1s, scrape_timeout: 1s }\nscrape_configs:\n  - job_name: dx\n` +
            `    static_configs: [{ targets: ["${e.url.replace("http://", "")}"] }]\n`,
        );
        const stored = await prometheus.waitForQuery("forged_fine", (r) => r.length === 1, {
          timeoutMs: 30_000,
        });
        assert.equal(stored[0].value[1], "5");
        assert.equal((await prometheus.query("up"))[0].value[1], "1");
        assert.equal(
          (await prometheus.query('dynamic_exporter_module_up{module="forged"}'))[0].value[1],
          "0",
        );
        assert.equal((await prometheus.query("healthy_runs_total")).length, 1);
      } finally {
        await prometheus?.stop();
      }
    });
  },
});

Deno.test("a family whose served sample names collide with another module's fails to load, naming both", async () => {
  const counter = `import { Counter, Histogram } from "prom-client";
const c = new Counter({ name: "c_gt", help: "Served as c_gt_total in OpenMetrics." });
const h = new Histogram({ name: "c_dup", help: "Serves c_dup_bucket." });
export function process() { c.inc(); h.observe(1); }
`;
  const total = `import { Gauge } from "prom-client";
new Gauge({ name: "c_gt_total", help: "h" });
export function process() {}
`;
  const bucket = `import { Gauge } from "prom-client";
new Gauge({ name: "c_dup_bucket", help: "h" });
export function process() {}
`;
  await withExporter({ "owner.ts": counter, "healthy.ts": HEALTHY }, async (e, dir) => {
    await waitForSample(e.url, "c_gt", 1);
    await Deno.writeTextFile(`${dir}/total.ts`, total);
    await Deno.writeTextFile(`${dir}/bucket.ts`, bucket);
    const totalFailure = await e.waitForLog((r) => r.msg === "module load failed" && r.module === "total");
    assert.equal(
      totalFailure.err,
      `metric "c_gt_total" would serve "c_gt_total", which module "owner"'s metric "c_gt" serves`,
    );
    const bucketFailure = await e.waitForLog((r) => r.msg === "module load failed" && r.module === "bucket");
    assert.equal(
      bucketFailure.err,
      `metric "c_dup_bucket" would serve "c_dup_bucket", which module "owner"'s metric "c_dup" serves`,
    );
    await assertHealthyUpdating(e);
    const body = await validBody(e);
    const names = familyNames(body);
    assert.deepEqual(names, [...new Set(names)]);
    const om =
      await (await fetch(`${e.url}/metrics`, { headers: { accept: "application/openmetrics-text" } }))
        .text();
    assert.equal(om.match(/^c_gt_total /gm)?.length, 1, om);
  });
});

Deno.test("collectDefaultMetrics() in a module fails its load: the exporter serves process_* itself", async () => {
  const defaults = `import { collectDefaultMetrics } from "prom-client";
collectDefaultMetrics();
export function process() {}
`;
  await withExporter({ "defaults.ts": defaults, "healthy.ts": HEALTHY }, async (e) => {
    const failure = await e.waitForLog((r) => r.msg === "module load failed" && r.module === "defaults");
    assert.match(
      String(failure.err),
      /would serve "process_cpu_seconds_total", which the exporter serves itself/,
    );
    await assertHealthyUpdating(e);
    const body = await validBody(e);
    assert.equal(body.match(/^process_cpu_seconds_total /gm)?.length, 1);
    assert.doesNotMatch(body, /process_cpu_user_seconds_total/);
  });
});

Deno.test("a scrape answers within Prometheus' scrape timeout when a collect() never resolves", async () => {
  const hanging = `import { Gauge } from "prom-client";
new Gauge({ name: "hanging_value", help: "h", collect() { return new Promise(() => {}); } });
export function process() {}
`;
  await withExporter({ "hanging.ts": hanging, "healthy.ts": HEALTHY }, async (e) => {
    await e.waitForLog((r) => r.msg === "metrics dir loaded; ready");
    // The cap for 2s is 1.5s; without it the render waits for --collect.timeout (30s).
    const started = performance.now();
    const response = await fetch(`${e.url}/metrics`, {
      headers: { "x-prometheus-scrape-timeout-seconds": "2" },
    });
    const body = await response.text();
    const seconds = (performance.now() - started) / 1000;
    assert.ok(seconds < 10, `scrape took ${seconds.toFixed(1)}s`);
    const samples = parseSamples(body);
    assert.ok((samples.get("healthy_runs_total") ?? 0) > 0, body);
    assert.equal(samples.get(up("hanging")), 0);
    assert.equal(samples.has("hanging_value"), false);
  }, { args: ["--collect.timeout=30s"] });
});

Deno.test("one module cannot reach, remove, reset or replace another module's metrics through the registry", async () => {
  const victim = `import { Counter } from "prom-client";
const c = new Counter({ name: "victim_total", help: "Counted once, at import." });
c.inc(5);
export function process() {}
`;
  const attacker = `import { register, Gauge } from "prom-client";
const seen = new Gauge({ name: "attacker_seen", help: "Metrics the attacker could reach.", labelNames: ["how"] });
export const interval = "100ms";
export function process() {
  register.removeSingleMetric("victim_total");
  register.resetMetrics();
  const other = register.getSingleMetric("victim_total");
  if (other) other.get = async () => ({ name: "victim_total", help: "h", type: "counter", values: [{ value: 666 }] });
  for (const m of register.getMetricsAsArray()) if (m !== seen) m.reset();
  seen.set({ how: "array" }, register.getMetricsAsArray().length);
  seen.set({ how: "single" }, other ? 1 : 0);
  seen.set({ how: "internal" }, Object.keys(register._metrics ?? {}).length);
}
`;
  await withExporter({ "victim.ts": victim, "attacker.ts": attacker, "healthy.ts": HEALTHY }, async (e) => {
    // The exporter serves while it loads, and victim.ts loads last: the attacker must have run
    // after it, not only before (a scrape in between found no victim_total in CI).
    const loaded = await waitForSample(e.url, "victim_total", 5);
    await waitAbove(e.url, lastSuccess("attacker"), loaded.get(lastSuccess("attacker")) ?? 0);
    const samples = await waitForSample(e.url, 'attacker_seen{how="array"}', 1);
    assert.equal(samples.get('attacker_seen{how="single"}'), 0);
    assert.equal(samples.get('attacker_seen{how="internal"}'), 1);
    await assertHealthyUpdating(e);
    const after = await scrape(e.url);
    assert.equal(after.get("victim_total"), 5);
    assert.ok((after.get("healthy_runs_total") ?? 0) > 0);
    await validBody(e);
  });
});
