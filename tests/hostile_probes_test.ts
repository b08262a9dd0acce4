/**
 * End to end, issue 20: probes that end their module's host. A probe that loops after an await
 * or runs its host out of memory is handled as a run is (the host is killed and restarted), but
 * blamed on its target: after 3 such deaths the target is refused for a while (503), and the
 * module keeps probing its other targets. Meanwhile /metrics, the other modules and the other
 * probes keep answering.
 */

import assert from "node:assert/strict";
import {
  type Exporter,
  parseSamples,
  scrape,
  ScrapeTimer,
  tickingModule,
  waitAbove,
  waitFor,
  withExporter,
} from "./_server.ts";
import { FAST_SUPERVISION } from "./_hosts.ts";

/** Loops after an await for target "bad" (node:vm's timeout cannot stop that); answers for "good". */
const BLAMED = `import { Gauge } from "prom-client";
export const targets = ["good", "bad"];
export async function probe(target, ctx) {
  await new Promise((resolve) => setTimeout(resolve, 10));
  if (target === "bad") for (;;);
  new Gauge({ name: "test_good_value", help: "Set by a probe of good.", registers: [ctx.registry] }).set(1);
}
`;

/**
 * Fills its heap after an await for target "t", 2 MB at a time (answers for "ok"): V8 runs out
 * of heap within a second or so. Its timeout is long, so that the host is not first killed as
 * silent (its timeout plus the grace) on a loaded machine.
 */
const HUNGRY = `export const targets = ["t", "ok"];
export const timeout = "5s";
export async function probe(target) {
  await new Promise((resolve) => setTimeout(resolve, 10));
  if (target === "ok") return;
  const hoard = [];
  for (;;) hoard.push(new Array(1 << 18).fill(Math.random()));
}
`;

/** Loops after an await for target "t"; answers for "ok". */
const LOOPING = `export const targets = ["t", "ok"];
export async function probe(target) {
  await new Promise((resolve) => setTimeout(resolve, 10));
  if (target === "ok") return;
  for (;;);
}
`;

const FINE = `import { Gauge } from "prom-client";
export const targets = ["t"];
export async function probe(target, ctx) {
  await new Promise((resolve) => setTimeout(resolve, 10));
  new Gauge({ name: "test_fine_value", help: "Set by every probe.", registers: [ctx.registry] }).set(1);
}
`;

/** A probe's answer, with how long it took. */
async function probe(
  e: Exporter,
  module: string,
  target: string,
): Promise<{ status: number; body: string; headers: Headers; ms: number }> {
  const start = performance.now();
  const response = await fetch(`${e.url}/probe?${new URLSearchParams({ module, target })}`);
  const body = await response.text();
  return { status: response.status, body, headers: response.headers, ms: performance.now() - start };
}

/** Waits for the first load of the dir to be done (/-/ready 200): every module is loaded. */
async function ready(e: Exporter): Promise<void> {
  await waitFor(async () => {
    const response = await fetch(`${e.url}/-/ready`);
    await response.body?.cancel();
    return response.status === 200;
  });
}

/** A probe's answer within its timeout of 1 s, the abort's grace, and slack for a loaded machine. */
const PROBE_BOUND_MS = 2500;

/**
 * Probes `module`'s `target` and scrapes /metrics, again and again, until `done(succeeded)`
 * says so (30 s at most). Every probe must answer 200 within PROBE_BOUND_MS, whatever its
 * result, and every scrape is timed.
 */
async function keepProbing(
  e: Exporter,
  scrapes: ScrapeTimer,
  module: string,
  target: string,
  done: (succeeded: boolean) => boolean,
): Promise<void> {
  const late: string[] = [];
  let last = "";
  await waitFor(async () => {
    const answer = await probe(e, module, target);
    last = `${answer.status} ${answer.body}`;
    if (answer.status !== 200 || answer.ms > PROBE_BOUND_MS) {
      late.push(`${answer.status} after ${Math.round(answer.ms)} ms`);
    }
    await scrapes.scrape();
    return done(answer.status === 200 && parseSamples(answer.body).get("probe_success") === 1);
  }, {
    timeoutMs: 30_000,
    message: () =>
      `last answer: ${last}\nhost deaths: ${
        JSON.stringify(e.logs.filter((r) => r.msg === "module host ended"))
      }`,
  });
  assert.deepEqual(late, [], `probes of ${module} ${JSON.stringify(target)} that did not answer in time`);
}

Deno.test("a target whose probes ended the host 3 times is refused with 503; the module keeps probing other targets", async () => {
  await withExporter({ "blamed.ts": BLAMED, "healthy.ts": tickingModule("healthy_runs") }, async (e) => {
    const scrapes = new ScrapeTimer(e.url);
    const deaths = () =>
      e.logs.filter((r) => r.msg === "module host ended" && String(r.targets).split(",").includes("bad"))
        .length;
    await ready(e);
    await keepProbing(e, scrapes, "blamed", "good", (ok) => ok);
    for (let death = 1; death <= 3; death++) {
      // A probe of good alongside: it may be stuck behind the loop, but it answers.
      const [bad, during] = await Promise.all([probe(e, "blamed", "bad"), probe(e, "blamed", "good")]);
      assert.equal(bad.status, 200, bad.body);
      assert.equal(parseSamples(bad.body).get("probe_success"), 0);
      assert.ok(bad.ms < PROBE_BOUND_MS, `the probe of bad took ${Math.round(bad.ms)} ms`);
      assert.equal(during.status, 200, during.body);
      assert.ok(during.ms < PROBE_BOUND_MS, `the probe of good took ${Math.round(during.ms)} ms`);
      // Good keeps answering while the host is killed and restarted, and then succeeds (which
      // also clears a death blamed on good when its probe was under way alongside).
      await keepProbing(e, scrapes, "blamed", "good", (ok) => ok && deaths() >= death);
    }
    const refused = await e.waitForLog((r) => r.msg === "probe target refused");
    assert.deepEqual(
      { module: refused.module, target: refused.target, for: refused.for },
      { module: "blamed", target: "bad", for: "5m" },
    );
    assert.match(
      String(refused.reason),
      /^its probes ended the module's host 3 times in a row \(last: the host stopped answering for /,
    );
    const callsBefore = (await scrape(e.url)).get(
      'dynamic_exporter_probes_total{module="blamed",result="failure"}',
    );
    const fourth = await probe(e, "blamed", "bad");
    assert.equal(fourth.status, 503);
    assert.match(
      fourth.body,
      /^Target "bad" is refused by module "blamed" for [45]m\d*s? more: its probes ended the module's host 3 times in a row \(last: the host stopped answering for .*\)\.\n$/,
    );
    assert.ok(Number(fourth.headers.get("retry-after")) > 240, fourth.headers.get("retry-after") ?? "");
    // The refusal never reached the module: no call was counted.
    const after = await scrape(e.url);
    assert.equal(after.get('dynamic_exporter_probes_total{module="blamed",result="failure"}'), callsBefore);
    // The module was not blamed: not quarantined, and it still probes good.
    assert.equal(after.get('dynamic_exporter_modules{state="quarantined"}'), 0);
    assert.equal(after.get('dynamic_exporter_module_last_load_successful{module="blamed"}'), 1);
    await keepProbing(e, scrapes, "blamed", "good", (ok) => ok);
    assert.equal(deaths(), 3);
    await waitAbove(e.url, "healthy_runs", (after.get("healthy_runs") ?? 0) + 3, 20_000);
    assert.ok(scrapes.slowestMs < 1000, `a scrape took ${Math.round(scrapes.slowestMs)} ms`);
  }, { args: [...FAST_SUPERVISION] });
});

Deno.test("probes that loop after an await or run their host out of memory leave other probes and /metrics answering", async () => {
  const files = {
    "hungry.ts": HUNGRY,
    "looping.ts": LOOPING,
    "fine.ts": FINE,
    "healthy.ts": tickingModule("healthy_runs"),
  };
  await withExporter(files, async (e) => {
    const scrapes = new ScrapeTimer(e.url);
    const ended = (module: string, reason: RegExp) =>
      e.logs.some((r) =>
        r.msg === "module host ended" && String(r.suspects).split(",").includes(module) &&
        reason.test(String(r.reason))
      );
    await ready(e);
    await keepProbing(e, scrapes, "fine", "t", (ok) => ok);
    // One at a time, so that each ends a host by itself (two at once would be suspects together),
    // each once its host is up (target "ok" answers): a probe still waiting for its host at its
    // timeout never starts.
    await keepProbing(e, scrapes, "hungry", "ok", (ok) => ok);
    const hungry = probe(e, "hungry", "t");
    await keepProbing(e, scrapes, "fine", "t", () => ended("hungry", /ran out of memory|over its budget/));
    assert.equal(parseSamples((await hungry).body).get("probe_success"), 0);
    await keepProbing(e, scrapes, "looping", "ok", (ok) => ok);
    const looping = probe(e, "looping", "t");
    await keepProbing(e, scrapes, "fine", "t", () => ended("looping", /^stopped answering/));
    assert.equal(parseSamples((await looping).body).get("probe_success"), 0);
    // After both: the other module's probes succeed again, the other module runs, nothing took
    // a scrape past a second.
    await keepProbing(e, scrapes, "fine", "t", (ok) => ok);
    const runs = (await scrape(e.url)).get("healthy_runs") ?? 0;
    await waitAbove(e.url, "healthy_runs", runs + 3, 20_000);
    assert.ok(scrapes.slowestMs < 1000, `a scrape took ${Math.round(scrapes.slowestMs)} ms`);
  }, { args: [...FAST_SUPERVISION, "--modules.memory=96MiB"] });
});
