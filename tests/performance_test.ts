/**
 * Issue 10: the body is built in slices, from parts compressed apart, once however many scrapes
 * wait. These tests hold what that must not break (correctness, not speed: `deno task bench`
 * measures speed): a gzip body is exactly the plain body, for every client; a value set in
 * process() shows in the next scrape; scrapes during a rebuild all get a whole, consistent body.
 */

import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { hasCommand } from "./_promtool.ts";
import { type Prometheus, startPrometheus } from "./_prometheus.ts";
import { type Exporter, parseSamples, waitFor, withExporter } from "./_server.ts";

const hasCurl = await hasCommand("curl");
const hasPrometheus = await hasCommand("prometheus");
if (!hasCurl) console.warn("skipping the curl test: curl is not installed (apt-get install curl)");
if (!hasPrometheus) console.warn("skipping the Prometheus gzip test: prometheus is not installed");

/**
 * A Gauge with `count` series that every run sets to the run's number, logging the number
 * once the run is done; `interval` as the module exports it.
 */
function seriesModule(count: number, interval: string): string {
  return `import { Gauge } from "prom-client";
const g = new Gauge({ name: "perf_series", help: "Many series.", labelNames: ["series", "shard"] });
let run = 0;
export const interval = "${interval}";
export function process(ctx) {
  run++;
  for (let i = 0; i < ${count}; i++) g.set({ series: "s" + i, shard: "shard" + (i % 16) }, run);
  ctx.log.info("perf run done", { run });
}
`;
}

const PLAIN = { "accept-encoding": "identity" };
const OPENMETRICS = { ...PLAIN, accept: "application/openmetrics-text; version=1.0.0" };

/** The body of GET /metrics as sent, undecoded. */
async function rawScrape(url: string, headers: Record<string, string>): Promise<Response> {
  const response = await fetch(`${url}/metrics`, { headers });
  assert.equal(response.status, 200);
  return response;
}

/** The `perf_series` values in a body, and whether the body ends with the self-metrics. */
function seriesValues(text: string): { values: number[]; complete: boolean } {
  const values: number[] = [];
  for (const [name, value] of parseSamples(text)) if (name.startsWith("perf_series{")) values.push(value);
  return { values, complete: /^process_start_time_seconds \S+\n(# EOF\n)?$/m.test(text.slice(-200)) };
}

/**
 * Waits until a scrape serves all `count` series. The module's log line comes first: its run's
 * families then still cross from its host in pages.
 */
async function waitForSeries(e: Exporter, count: number): Promise<void> {
  let seen = 0;
  await waitFor(
    async () => (seen = seriesValues(await (await rawScrape(e.url, PLAIN)).text()).values.length) === count,
    {
      timeoutMs: 30_000,
      message: () => `${seen} of ${count} series served`,
    },
  );
}

/** curl's output for `args` (the URL last), as bytes. */
async function curl(args: string[]): Promise<Uint8Array> {
  const { code, stdout, stderr } = await new Deno.Command("curl", { args: ["-sS", ...args] }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return stdout;
}

/**
 * Runs `fn` until the plain body it was given and a plain body fetched right after are the
 * same (no self-metrics refresh in between), then returns what `fn` returned with that body.
 */
async function betweenEqualBodies<T>(
  e: Exporter,
  headers: Record<string, string>,
  fn: () => Promise<T>,
): Promise<{ plain: string; result: T }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const before = await (await rawScrape(e.url, headers)).text();
    const result = await fn();
    const after = await (await rawScrape(e.url, headers)).text();
    if (before === after) return { plain: before, result };
  }
  throw new Error("the body changed between every pair of scrapes");
}

Deno.test({
  name: "a gzip scrape is exactly the plain body, read whole by gunzip, curl --compressed and fetch",
  ignore: !hasCurl,
  async fn() {
    // 40k series: a fragment of several deflate chunks (256 KiB each) before the self-metrics.
    const count = 40_000;
    await withExporter({ "big.ts": seriesModule(count, "1h") }, async (e) => {
      await waitFor(
        async () => seriesValues(await (await rawScrape(e.url, PLAIN)).text()).values.length === count,
        {
          timeoutMs: 30_000,
        },
      );
      for (const headers of [PLAIN, OPENMETRICS]) {
        const accept = headers === OPENMETRICS ? ["-H", `accept: ${OPENMETRICS.accept}`] : [];
        const url = `${e.url}/metrics`;
        const { plain, result } = await betweenEqualBodies(e, headers, async () => ({
          raw: await curl([...accept, "-H", "accept-encoding: gzip", url]),
          curl: new TextDecoder().decode(await curl([...accept, "--compressed", url])),
          fetch: await (await rawScrape(e.url, { ...headers, "accept-encoding": "gzip" })).text(),
        }));
        assert.deepEqual([...result.raw.subarray(0, 2)], [0x1f, 0x8b], "not gzip");
        assert.equal(new TextDecoder().decode(gunzipSync(result.raw)), plain);
        assert.equal(result.curl, plain);
        assert.equal(result.fetch, plain);
        const { values, complete } = seriesValues(plain);
        assert.equal(values.length, count);
        assert.ok(complete, plain.slice(-300));
      }
    });
  },
});

Deno.test("HEAD /metrics answers with the GET's headers and Content-Length and no body, streamed or not", async () => {
  // 30k series: the plain body (about 1.5 MB) is streamed from its parts, the gzip one is joined.
  await withExporter({ "big.ts": seriesModule(30_000, "1h") }, async (e) => {
    await waitForSeries(e, 30_000);
    for (const headers of [PLAIN, { "accept-encoding": "gzip" }]) {
      const sameBytes = (a: Uint8Array, b: Uint8Array) =>
        a.length === b.length && a.every((x, i) => x === b[i]);
      const withoutDate = (h: Headers) => Object.fromEntries([...h].filter(([name]) => name !== "date"));
      let checked = false;
      // Until no self-metrics refresh fell between the GETs around the HEAD.
      for (let attempt = 0; attempt < 20 && !checked; attempt++) {
        const get = await rawScrape(e.url, headers);
        const before = await get.bytes();
        const head = await fetch(`${e.url}/metrics`, { method: "HEAD", headers });
        const after = await (await rawScrape(e.url, headers)).bytes();
        if (!sameBytes(before, after)) continue;
        assert.equal(head.status, 200);
        // fetch gunzips a gzip body: its bytes give the plain length only. The headers are as sent.
        assert.deepEqual(withoutDate(head.headers), withoutDate(get.headers), JSON.stringify(headers));
        if (headers === PLAIN) assert.equal(head.headers.get("content-length"), String(before.length));
        assert.equal(await head.text(), "");
        checked = true;
      }
      assert.ok(checked, "the body changed between every pair of scrapes");
    }
    assert.ok(e.logs.every((l) => l.level !== "error"), "no request failed");
  });
});

Deno.test("a value set in process() shows in the next scrape after the run, plain and gzip", async () => {
  const count = 20_000;
  await withExporter({ "big.ts": seriesModule(count, "300ms") }, async (e) => {
    // "module run" is logged once the run's result is handled (its fragment invalidated): the
    // k-th such line is run k, whose values every later scrape must show (or a later run's).
    const runs = () => e.logs.filter((l) => l.msg === "module run" && l.module === "big").length;
    for (let check = 0; check < 6; check++) {
      const gzip = check % 2 === 1;
      const before = runs();
      await waitFor(() => runs() > before, { timeoutMs: 30_000 });
      const done = runs();
      const body = await (await rawScrape(e.url, gzip ? { "accept-encoding": "gzip" } : PLAIN)).text();
      const { values, complete } = seriesValues(body);
      assert.equal(values.length, count);
      assert.ok(complete);
      assert.ok(values[0] >= done, `run ${done} handled, the next scrape shows run ${values[0]}`);
    }
  });
});

Deno.test("concurrent scrapes while the module's fragment is rebuilt all get a whole, consistent body", async () => {
  const count = 30_000;
  await withExporter({ "big.ts": seriesModule(count, "200ms") }, async (e) => {
    await waitForSeries(e, count);
    const seen = new Set<number>();
    // Rounds of 16 scrapes at once until several runs (and so rebuilds) fell inside them.
    for (let round = 0; round < 60 && seen.size < 4; round++) {
      const bodies = await Promise.all(
        Array.from({ length: 16 }, async (_, i) => {
          const headers = [PLAIN, { "accept-encoding": "gzip" }, OPENMETRICS][i % 3];
          return await (await rawScrape(e.url, headers)).text();
        }),
      );
      for (const body of bodies) {
        const { values, complete } = seriesValues(body);
        assert.equal(values.length, count, "a series is missing");
        assert.ok(complete, "the self-metrics are missing");
        // One run's values throughout: no body mixes two runs.
        assert.equal(new Set(values).size, 1, `values of several runs in one body: ${[...new Set(values)]}`);
        seen.add(values[0]);
      }
    }
    assert.ok(seen.size >= 4, `only runs ${[...seen]} were seen: the rounds did not span rebuilds`);
  }, { args: ["--log.level=info"], env: { DYNAMIC_EXPORTER_STALL_PROBE: "1" } });
});

Deno.test("the stall probe logs the longest event-loop stall once a second when asked to", async () => {
  await withExporter({}, async (e) => {
    const record = await e.waitForLog((l) => l.msg === "event loop probe", 10_000);
    assert.equal(typeof record.max_stall_ms, "number");
    assert.ok((record.window_ms as number) >= 1000);
  }, { env: { DYNAMIC_EXPORTER_STALL_PROBE: "1" } });
});

Deno.test({
  name: "a real Prometheus stores every series of a gzip body built from separately compressed parts",
  ignore: !hasPrometheus,
  async fn() {
    const count = 30_000;
    await withExporter({ "big.ts": seriesModule(count, "1h") }, async (e) => {
      let prometheus: Prometheus | undefined;
      try {
        prometheus = await startPrometheus(
          `global: { scrape_interval: 1s, scrape_timeout: 1s }\nscrape_configs:\n  - job_name: dx\n    static_configs: [{ targets: ["${
            e.url.replace("http://", "")
          }"] }]\n`,
        );
        const results = await prometheus.waitForQuery(
          "count(perf_series == 1)",
          (r) => r.length === 1 && r[0].value[1] === String(count),
          { timeoutMs: 30_000 },
        );
        assert.equal(results[0].value[1], String(count));
        // The self-metrics after the module's part decoded too: the stream was read to its end.
        assert.equal((await prometheus.query("dynamic_exporter_module_up"))[0].value[1], "1");
        assert.equal((await prometheus.query("up"))[0].value[1], "1");
      } finally {
        await prometheus?.stop();
      }
    });
  },
});
