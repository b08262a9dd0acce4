/**
 * Issue 19 end to end: values past a module's maxAge stop being served, module_samples, POST
 * /-/run, and the last runs with their log lines on the status page.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { scrape, waitFor, waitForSample, withExporter } from "./_server.ts";

/** A module that serves orders_depth 3, and throws while `state/failing` exists beside it. */
const FLAGGED = `import { Gauge } from "prom-client";
const depth = new Gauge({ name: "orders_depth", help: "Orders waiting.", labelNames: ["queue"] });
export const interval = "200ms";
export const maxAge = "1s";
export function process(ctx) {
  let failing = false;
  try {
    Deno.statSync(new URL("./state/failing", import.meta.url));
    failing = true;
  } catch { /* not failing */ }
  ctx.log.info("checking the backend", { failing });
  if (failing) throw new Error("backend unreachable");
  depth.set({ queue: "a" }, 3);
  depth.set({ queue: "b" }, 4);
}
`;

const SERIES = 'orders_depth{queue="a"}';

Deno.test("a module past its maxAge stops serving its series within maxAge + one interval, and serves them again after a success", () =>
  withExporter({ "orders.ts": FLAGGED, "state/.keep": "" }, async (e, dir) => {
    let samples = await waitForSample(e.url, SERIES, 3);
    assert.equal(samples.get('dynamic_exporter_module_samples{module="orders"}'), 2);

    await Deno.writeTextFile(`${dir}/state/failing`, "");
    const failingSince = performance.now();
    await waitFor(async () => !(samples = await scrape(e.url)).has(SERIES), {
      timeoutMs: 10_000,
      message: () => [...samples].join("\n"),
    });
    const goneAfterMs = performance.now() - failingSince;
    // The last success came about one interval before the flag: the series stay about maxAge
    // after it (not gone at the first failure), and are gone by maxAge + one interval (plus
    // slack for a loaded machine).
    assert.ok(goneAfterMs >= 500, `gone after ${goneAfterMs} ms, before its maxAge`);
    assert.ok(goneAfterMs <= 1000 + 200 + 1500, `gone after ${goneAfterMs} ms`);
    assert.equal(samples.has('orders_depth{queue="b"}'), false);
    // Its self-metrics stay, and say it.
    assert.equal(samples.get('dynamic_exporter_module_up{module="orders"}'), 0);
    assert.equal(samples.get('dynamic_exporter_module_samples{module="orders"}'), 0);
    assert.ok(samples.get('dynamic_exporter_module_last_success_timestamp_seconds{module="orders"}')! > 0);

    const page = await (await fetch(e.url)).text();
    assert.match(
      page,
      /<tr class="expired"><td><a href="module\?name=orders">orders<\/a><\/td><td>stale<\/td>/,
    );
    assert.match(page, /stale: last success <time[^>]*>[^<]* ago<\/time>, over its maxAge of 1s\./);
    await e.waitForLog((r) =>
      r.msg === "module values older than its maxAge; no longer served" && r.module === "orders"
    );

    await Deno.remove(`${dir}/state/failing`);
    samples = await waitForSample(e.url, SERIES, 3);
    assert.equal(samples.get('orders_depth{queue="b"}'), 4);
    assert.equal(samples.get('dynamic_exporter_module_up{module="orders"}'), 1);
    assert.equal(samples.get('dynamic_exporter_module_samples{module="orders"}'), 2);
  }));

Deno.test("--collect.max-age is the maxAge of a module that exports none, and a bad maxAge export fails the load", () =>
  withExporter({
    "orders.ts": FLAGGED.replace('export const maxAge = "1s";\n', ""),
    "state/.keep": "",
    "bad.ts": `export const maxAge = 60; export function process() {}\n`,
  }, async (e, dir) => {
    await waitForSample(e.url, SERIES, 3);
    await Deno.writeTextFile(`${dir}/state/failing`, "");
    await waitForSample(e.url, SERIES, undefined);
    const failed = await e.waitForLog((r) => r.msg === "module load failed" && r.module === "bad");
    assert.equal(failed.err, 'its "maxAge" export must be a duration string like "30s", not 60');
  }, { args: ["--collect.max-age=1s"] }));

/** Logs through ctx.log and console, serves talker_runs, and takes 1 s a run. */
const TALKER = `import { Gauge } from "prom-client";
const runs = new Gauge({ name: "talker_runs", help: "Runs so far." });
let n = 0;
export const interval = "1h";
export async function process(ctx) {
  ctx.log.info("fetching", { url: "http://backend.internal/", password: "hunter2" });
  console.log("a console line");
  await new Promise((resolve) => setTimeout(resolve, n === 0 ? 0 : 1000));
  runs.set(++n);
}
`;

Deno.test("POST /-/run runs the module now and answers its log lines and exposition; 409 while it runs, 404 unknown", () =>
  withExporter({ "talker.ts": TALKER }, async (e) => {
    await waitForSample(e.url, "talker_runs", 1);
    const run = fetch(`${e.url}/-/run?module=talker`, { method: "POST" });
    // The run has begun once it logged (its first line of two runs): a second one is refused meanwhile.
    await waitFor(() => e.logs.filter((r) => r.msg === "fetching" && r.module === "talker").length === 2);
    const busy = await fetch(`${e.url}/-/run?module=talker`, { method: "POST" });
    assert.deepEqual([busy.status, await busy.text()], [
      409,
      'Module "talker" is running now; try again when its run has ended.\n',
    ]);
    const response = await run;
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
    const body = (await response.text()).replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "<time>").replace(
      /after \d+ ms/,
      "after <ms> ms",
    );
    assert.equal(
      body,
      `Run of module "talker" at <time>: success after <ms> ms

Log lines of the run:
<time> info fetching url=http://backend.internal/ password=***
<time> info a console line

Metrics the module serves now:
# HELP talker_runs Runs so far.
# TYPE talker_runs gauge
talker_runs 2
`,
    );
    // The run counts as a run: what is served is its result.
    assert.equal((await scrape(e.url)).get("talker_runs"), 2);

    const unknown = await fetch(`${e.url}/-/run?module=nope`, { method: "POST" });
    assert.deepEqual([unknown.status, await unknown.text()], [
      404,
      'No module "nope" is loaded and scheduled.\n',
    ]);
  }, { args: ["--web.enable-lifecycle"] }));

Deno.test("POST /-/run is refused with 403 without --web.enable-lifecycle", () =>
  withExporter({ "talker.ts": TALKER }, async (e) => {
    const response = await fetch(`${e.url}/-/run?module=talker`, { method: "POST" });
    assert.deepEqual([response.status, await response.text()], [
      403,
      "Lifecycle API is not enabled; start with --web.enable-lifecycle.\n",
    ]);
  }));

const WEB_FIXTURES = fileURLToPath(new URL("./fixtures/web/", import.meta.url));

Deno.test("POST /-/run needs the web config's basic auth", () =>
  withExporter({ "talker.ts": TALKER }, async (e) => {
    const authorization = `Basic ${btoa("prometheus:scrape-secret")}`;
    await waitFor(async () => (await scrape(e.url, { authorization })).get("talker_runs") === 1);
    const anonymous = await fetch(`${e.url}/-/run?module=talker`, { method: "POST" });
    await anonymous.body?.cancel();
    assert.equal(anonymous.status, 401);
    const authorized = await fetch(`${e.url}/-/run?module=talker`, {
      method: "POST",
      headers: { authorization },
    });
    assert.equal(authorized.status, 200);
    assert.match(await authorized.text(), /^talker_runs 2$/m);
  }, { args: ["--web.enable-lifecycle", `--web.config.file=${WEB_FIXTURES}auth_only.good.yml`] }));

Deno.test("the status page shows a failing module's last runs with their log lines", () =>
  withExporter({ "orders.ts": FLAGGED, "state/failing": "" }, async (e) => {
    let page = "";
    await waitFor(async () => {
      page = await (await fetch(e.url)).text();
      return /<summary>Last \d+ runs, \d+ failed<\/summary>/.test(page);
    }, { message: () => page });
    assert.match(
      page,
      /<li class="run-bad"><p><time[^>]*>[^<]*<\/time> <strong>error<\/strong> after [^<]*<\/p><pre>backend unreachable<\/pre><pre class="log">\d\d:\d\d:\d\d\.\d{3} info checking the backend failing=true<\/pre><\/li>/,
    );
  }));
