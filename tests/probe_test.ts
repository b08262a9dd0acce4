/**
 * End to end, issue 20: `GET /probe?module=<name>&target=<target>` against the real exporter and
 * fake HTTP targets on loopback. The module counts its probe() calls in a gauge that its
 * process() publishes, so a test can prove a call did not happen.
 */

import assert from "node:assert/strict";
import { type Exporter, parseSamples, scrape, waitFor, withExporter } from "./_server.ts";
import { hasCommand, promtoolCheck } from "./_promtool.ts";

const MODULE = `import { Gauge } from "prom-client";
let calls = 0;
const seen = new Gauge({ name: "test_probe_calls", help: "probe() calls so far" });
export const interval = "100ms";
export function process() { seen.set(calls); }
export const targets = /http:\\/\\/127\\.0\\.0\\.1:\\d+\\/[\\w\\/]+/;
export const params = ["expect"];
export const concurrency = 4;
export const timeout = "3s";
export async function probe(target, ctx) {
  calls++;
  const value = new Gauge({ name: "test_target_value", help: "What the target serves.", registers: [ctx.registry] });
  ctx.log.info("fetching", { target });
  const res = await fetch(target, { signal: ctx.signal });
  const body = await res.json();
  console.log("target answered", body.value);
  if (ctx.params.expect !== undefined && String(body.value) !== ctx.params.expect) {
    throw new Error("value " + body.value + ", expected " + ctx.params.expect);
  }
  value.set(body.value);
}
`;

/** Fake targets: /a serves 1, /b serves 2, /slow/<n> waits for release(), /flip 503 while `down`; hits by path. */
function fakeTargets() {
  const hits = new Map<string, number>();
  const state = { down: false };
  let gate = Promise.withResolvers<void>();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (request) => {
    const path = new URL(request.url).pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    if (path.startsWith("/slow")) await gate.promise;
    if (path === "/flip" && state.down) return new Response("down", { status: 503 });
    const value = path === "/a" ? 1 : path === "/b" ? 2 : 7;
    return Response.json({ value });
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  return {
    base,
    hits,
    state,
    release() {
      gate.resolve();
      gate = Promise.withResolvers<void>();
    },
    async close() {
      gate.resolve();
      await server.shutdown();
    },
  };
}

function probeUrl(e: Exporter, params: Record<string, string>): string {
  return `${e.url}/probe?${new URLSearchParams({ module: "prober", ...params })}`;
}

async function get(url: string, headers: HeadersInit = {}): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: await response.text() };
}

/** The module's probe() calls so far, once its process() has published a value of at least `floor`. */
async function callsAtLeast(e: Exporter, floor: number): Promise<number> {
  let calls = NaN;
  await waitFor(async () => (calls = (await scrape(e.url)).get("test_probe_calls") ?? NaN) >= floor, {
    message: () => `test_probe_calls is ${calls}, want at least ${floor}`,
  });
  return calls;
}

async function withTargets(
  fn: (e: Exporter, targets: ReturnType<typeof fakeTargets>, dir: string) => Promise<void>,
): Promise<void> {
  const targets = fakeTargets();
  try {
    await withExporter({ "prober.ts": MODULE }, async (e, dir) => {
      await waitFor(async () => (await get(`${e.url}/-/ready`)).status === 200);
      await fn(e, targets, dir);
    });
  } finally {
    await targets.close();
  }
}

const NO_DURATION = (body: string) =>
  body.replace(/^probe_duration_seconds [\d.e-]+$/m, "probe_duration_seconds D");

Deno.test("/probe answers each target's own values under 30 concurrent requests mixing two targets", async () => {
  await withTargets(async (e, t) => {
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, i) => {
        const path = i % 2 === 0 ? "/a" : "/b";
        return get(probeUrl(e, { target: t.base + path })).then((a) => ({ path, ...a }));
      }),
    );
    for (const { path, status, body } of answers) {
      assert.equal(status, 200);
      assert.equal(
        NO_DURATION(body),
        "# HELP test_target_value What the target serves.\n# TYPE test_target_value gauge\n" +
          `test_target_value ${path === "/a" ? 1 : 2}\n` +
          "# HELP probe_duration_seconds Returns how long the probe took to complete in seconds\n" +
          "# TYPE probe_duration_seconds gauge\nprobe_duration_seconds D\n" +
          "# HELP probe_success Displays whether or not the probe was a success\n" +
          "# TYPE probe_success gauge\nprobe_success 1\n",
      );
    }
    const samples = await scrape(e.url);
    // Identical probes in flight at once share a call: one call per target hit.
    const calls = t.hits.get("/a")! + t.hits.get("/b")!;
    assert.equal(samples.get('dynamic_exporter_probes_total{module="prober",result="success"}'), calls);
  });
});

Deno.test("/probe answers probe_success 0 for a target that is down, and logs why", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close();
  await withTargets(async (e) => {
    const { status, body } = await get(probeUrl(e, { target: `http://127.0.0.1:${port}/x` }));
    assert.equal(status, 200);
    const samples = parseSamples(body);
    assert.equal(samples.get("probe_success"), 0);
    assert.equal(
      samples.has("test_target_value"),
      true,
      "what the probe registered before it failed is served",
    );
    const line = await e.waitForLog((r) => r.msg === "probe failed");
    assert.equal(line.module, "prober");
    assert.equal(line.target, `http://127.0.0.1:${port}/x`);
    assert.match(String(line.err), /Connection refused/);
    const metrics = await scrape(e.url);
    assert.equal(metrics.get('dynamic_exporter_probes_total{module="prober",result="failure"}'), 1);
    // The status page lists it among the recent probes, with its error.
    const page = (await get(`${e.url}/`)).body;
    assert.match(
      page,
      new RegExp(
        `<tr class="failed"><td>prober</td><td><code>http://127\\.0\\.0\\.1:${port}/x</code></td><td>failure</td>` +
          `<td>[^<]+</td><td><time [^>]+>[^<]+</time></td><td>[^<]*Connection refused`,
      ),
    );
  });
});

Deno.test("/probe refuses a target outside the module's targets with 403, without calling it", async () => {
  await withTargets(async (e, t) => {
    const refused = await get(probeUrl(e, { target: "http://evil.example/a" }));
    assert.deepEqual(refused, {
      status: 403,
      body: `Target "http://evil.example/a" is refused by module "prober".\n`,
    });
    // A whole-target match: a good prefix with more after it is refused too.
    const suffixed = await get(probeUrl(e, { target: `${t.base}/a?x=1` }));
    assert.equal(suffixed.status, 403);
    const ok = await get(probeUrl(e, { target: t.base + "/a" }));
    assert.equal(ok.status, 200);
    // Only the accepted call reached probe(): the count settles at 1, not 3.
    assert.equal(await callsAtLeast(e, 1), 1);
  });
});

Deno.test("/probe answers 400 for an undeclared, a repeated or a missing parameter, and an unknown module", async () => {
  await withTargets(async (e, t) => {
    const target = t.base + "/a";
    const cases: [string, string][] = [
      [
        probeUrl(e, { target, auth: "x" }),
        `Unknown parameter "auth": module "prober" takes only "expect".\n`,
      ],
      [
        `${probeUrl(e, { target })}&expect=1&expect=2`,
        `Parameter "expect" is given 2 times; give it once.\n`,
      ],
      [`${e.url}/probe?module=prober`, `Missing parameter "target": /probe?module=<name>&target=<target>.\n`],
      [
        `${e.url}/probe?target=${target}`,
        `Missing parameter "module": /probe?module=<name>&target=<target>.\n`,
      ],
      [
        `${e.url}/probe?module=nothere&target=${target}`,
        `Unknown module "nothere": no module of that name is loaded.\n`,
      ],
    ];
    for (const [url, body] of cases) assert.deepEqual(await get(url), { status: 400, body }, url);
    assert.equal(t.hits.size, 0);
  });
});

Deno.test("/probe passes declared parameters to ctx.params", async () => {
  await withTargets(async (e, t) => {
    const good = parseSamples((await get(probeUrl(e, { target: t.base + "/b", expect: "2" }))).body);
    assert.equal(good.get("probe_success"), 1);
    const bad = parseSamples((await get(probeUrl(e, { target: t.base + "/b", expect: "3" }))).body);
    assert.equal(bad.get("probe_success"), 0);
  });
});

Deno.test("/probe answers 429 to distinct calls past the module's concurrency", async () => {
  await withTargets(async (e, t) => {
    const answers = Array.from({ length: 6 }, (_, i) => get(probeUrl(e, { target: `${t.base}/slow/${i}` })));
    const settled: { status: number; body: string }[] = [];
    for (const answer of answers) answer.then((a) => settled.push(a));
    await waitFor(() => settled.length === 2 && [...t.hits.values()].reduce((a, b) => a + b, 0) === 4, {
      message: () => `${settled.length} answered, target hits ${JSON.stringify([...t.hits])}`,
    });
    for (const a of settled) {
      assert.deepEqual(a, {
        status: 429,
        body: `Too many probes of module "prober" at once: its concurrency is 4; try again later.\n`,
      });
    }
    t.release();
    const all = await Promise.all(answers);
    assert.deepEqual(all.map((a) => a.status).sort(), [200, 200, 200, 200, 429, 429]);
  });
});

Deno.test("20 identical concurrent probes call the module once", async () => {
  await withTargets(async (e, t) => {
    const target = `${t.base}/slow/same`;
    const answers = Promise.all(Array.from({ length: 20 }, () => get(probeUrl(e, { target }))));
    await waitFor(() => t.hits.get("/slow/same") === 1);
    // Let the other 19 requests reach the exporter while the first call is held.
    await new Promise((resolve) => setTimeout(resolve, 500));
    t.release();
    const all = await answers;
    assert.deepEqual(new Set(all.map((a) => a.status)), new Set([200]));
    assert.equal(new Set(all.map((a) => parseSamples(a.body).get("test_target_value"))).size, 1);
    assert.equal(t.hits.get("/slow/same"), 1);
    assert.equal(await callsAtLeast(e, 1), 1);
  });
});

Deno.test("/probe?debug=true answers the probe's log lines and console lines, then the exposition", async () => {
  await withTargets(async (e, t) => {
    const target = t.base + "/b";
    const { status, body } = await get(probeUrl(e, { target, expect: "5", debug: "true" }));
    assert.equal(status, 200);
    assert.equal(
      NO_DURATION(body),
      "Logs for the probe:\n" +
        `level=info msg="fetching" target=${JSON.stringify(target)}\n` +
        // Its console lines too: this call's, and no other's.
        `level=info msg="target answered 2"\n` +
        `level=error msg="probe failed" err="value 2, expected 5"\n` +
        "\n\nMetrics that would have been returned:\n" +
        "# HELP test_target_value What the target serves.\n# TYPE test_target_value gauge\n" +
        "test_target_value 0\n" +
        "# HELP probe_duration_seconds Returns how long the probe took to complete in seconds\n" +
        "# TYPE probe_duration_seconds gauge\nprobe_duration_seconds D\n" +
        "# HELP probe_success Displays whether or not the probe was a success\n" +
        "# TYPE probe_success gauge\nprobe_success 0\n",
    );
  });
});

Deno.test("/probe negotiates OpenMetrics and gzip", async () => {
  await withTargets(async (e, t) => {
    const response = await fetch(probeUrl(e, { target: t.base + "/a" }), {
      headers: { accept: "application/openmetrics-text; version=1.0.0", "accept-encoding": "gzip" },
    });
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get("content-type"),
      "application/openmetrics-text; version=1.0.0; charset=utf-8",
    );
    assert.equal(response.headers.get("content-encoding"), "gzip");
    const body = await response.text(); // fetch decompresses
    assert.ok(body.endsWith("\nprobe_success 1\n# EOF\n"), body);
  });
});

Deno.test({
  name: "promtool check metrics accepts a probe's exposition",
  ignore: !await hasCommand("promtool"),
  async fn() {
    await withTargets(async (e, t) => {
      const { body } = await get(probeUrl(e, { target: t.base + "/a" }));
      const checked = await promtoolCheck(body);
      assert.deepEqual(checked, { code: 0, stdout: "", stderr: "" });
    });
  },
});

/** A probe-only module that decides targets in validateTarget() and counts what reaches probe(). */
const VALIDATING = `let calls = 0;
export function validateTarget(target) { return target.startsWith("ok-"); }
export function probe(target, ctx) {
  calls++;
  ctx.log.info("probed", { target, calls });
}
`;

/** Hangs until its signal aborts, then says how long that took. */
const HANGING = `export const targets = ["t"];
export const timeout = "5s";
export function probe(target, ctx) {
  const start = Date.now();
  return new Promise((_, reject) => ctx.signal.addEventListener("abort", () => {
    ctx.log.info("aborted", { after_ms: Date.now() - start });
    reject(ctx.signal.reason);
  }));
}
`;

Deno.test("validateTarget() decides in the module's host: a refused target gets 403 and never reaches probe()", async () => {
  await withExporter({ "validating.ts": VALIDATING }, async (e) => {
    await waitFor(async () => (await get(`${e.url}/-/ready`)).status === 200);
    const url = (target: string) => `${e.url}/probe?module=validating&target=${target}&debug=true`;
    assert.deepEqual(await get(url("bad-1")), {
      status: 403,
      body: `Target "bad-1" is refused by module "validating".\n`,
    });
    const ok = await get(url("ok-1"));
    assert.equal(ok.status, 200);
    // The first call that reached probe() is call 1: the refused one never did.
    assert.match(ok.body, /^level=info msg="probed" target="ok-1" calls=1$/m);
    assert.match(ok.body, /^probe_success 1$/m);
    // A probe-only module is not scheduled, and is up.
    const samples = await scrape(e.url);
    assert.equal(samples.get('dynamic_exporter_module_up{module="validating"}'), 1);
    assert.equal(
      samples.get('dynamic_exporter_module_process_errors_total{module="validating",reason="error"}'),
      0,
    );
  });
});

Deno.test("ctx.signal aborts at the module's timeout capped by X-Prometheus-Scrape-Timeout-Seconds", async () => {
  await withExporter({ "hanging.ts": HANGING }, async (e) => {
    await waitFor(async () => (await get(`${e.url}/-/ready`)).status === 200);
    const start = performance.now();
    // 1.5 s with Prometheus' margin of 0.5 s: the probe has 1 s, not its own 5 s.
    const { status, body } = await get(`${e.url}/probe?module=hanging&target=t&debug=true`, {
      "x-prometheus-scrape-timeout-seconds": "1.5",
    });
    const tookMs = performance.now() - start;
    assert.equal(status, 200);
    assert.ok(tookMs >= 900 && tookMs < 3000, `took ${Math.round(tookMs)} ms`);
    assert.match(body, /^level=info msg="aborted" after_ms=\d+$/m);
    assert.match(body, /^level=error msg="probe failed" err="probe\(\) timed out after 1s"$/m);
    assert.match(body, /^probe_success 0$/m);
    const line = await e.waitForLog((r) => r.msg === "probe failed");
    assert.equal(line.module, "hanging");
  });
});

Deno.test("examples/json_probe.ts probes a JSON API, with its expect parameter", async () => {
  const api = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => Response.json({ status: "ok", queue: 3, name: "x" }),
  );
  const example = await Deno.readTextFile(new URL("../examples/json_probe.ts", import.meta.url));
  try {
    await withExporter({ "json_probe.ts": example }, async (e) => {
      await waitFor(async () => (await get(`${e.url}/-/ready`)).status === 200);
      const target = `http://127.0.0.1:${api.addr.port}/health`;
      const url = (expect: string, to = target) =>
        `${e.url}/probe?${new URLSearchParams({ module: "json_probe", target: to, expect })}`;
      const good = await get(url("ok"));
      assert.equal(
        NO_DURATION(good.body),
        "# HELP json_probe_value Numeric top-level fields of the target's JSON answer.\n" +
          "# TYPE json_probe_value gauge\n" +
          'json_probe_value{field="queue"} 3\n' +
          "# HELP json_probe_http_status_code HTTP status code of the target's answer.\n" +
          "# TYPE json_probe_http_status_code gauge\n" +
          "json_probe_http_status_code 200\n" +
          "# HELP probe_duration_seconds Returns how long the probe took to complete in seconds\n" +
          "# TYPE probe_duration_seconds gauge\nprobe_duration_seconds D\n" +
          "# HELP probe_success Displays whether or not the probe was a success\n" +
          "# TYPE probe_success gauge\nprobe_success 1\n",
      );
      assert.equal(parseSamples((await get(url("degraded"))).body).get("probe_success"), 0);
      assert.equal((await get(url("ok", target.replace("127.0.0.1", "example.com")))).status, 403);
    });
  } finally {
    await api.shutdown();
  }
});

Deno.test("a sandboxed probe module runs in its own host, fenced by its net list", async () => {
  await withTargets(async (e, t, dir) => {
    const other = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => Response.json({ value: 9 }),
    );
    try {
      const allowed = new URL(t.base).host;
      const source = MODULE.replace(
        "let calls = 0;",
        `export const sandbox = { net: ["${allowed}"] };\nlet calls = 0;`,
      )
        .replaceAll("test_", "fenced_");
      await Deno.writeTextFile(`${dir}/fenced.ts`, source);
      await waitFor(async () =>
        (await get(`${e.url}/probe?module=fenced&target=${t.base}/a`)).status === 200
      );
      const inside = parseSamples((await get(`${e.url}/probe?module=fenced&target=${t.base}/a`)).body);
      assert.equal(inside.get("fenced_target_value"), 1);
      assert.equal(inside.get("probe_success"), 1);
      const outside = await get(
        `${e.url}/probe?module=fenced&target=http://127.0.0.1:${other.addr.port}/a&debug=true`,
      );
      assert.match(
        outside.body,
        /^level=error msg="probe failed" err=".*Requires net access to \\"127\.0\.0\.1:\d+\\"/m,
      );
      assert.match(outside.body, /^probe_success 0$/m);
    } finally {
      await other.shutdown();
    }
  });
});

/** A probe that spins after an await: node:vm's timeout cannot stop it, only the host's end. */
const LOOPING = `export const targets = ["t"];
export async function probe() {
  await new Promise((resolve) => setTimeout(resolve, 10));
  for (;;);
}
`;

Deno.test("a probe that loops after an await answers probe_success 0; /metrics and other probes keep answering", async () => {
  await withTargets(async (e, t, dir) => {
    await Deno.writeTextFile(`${dir}/looping.ts`, LOOPING);
    await waitFor(async () => (await get(`${e.url}/probe?module=looping&target=x`)).status === 403);
    const start = performance.now();
    const looped = await get(`${e.url}/probe?module=looping&target=t`, {
      "x-prometheus-scrape-timeout-seconds": "2",
    });
    assert.ok(performance.now() - start < 3000, `took ${Math.round(performance.now() - start)} ms`);
    assert.equal(parseSamples(looped.body).get("probe_success"), 0);
    // While its host is stuck, then killed and restarted: /metrics answers, and the other
    // module's probes succeed again.
    let metricsSlowestMs = 0;
    await waitFor(async () => {
      const before = performance.now();
      await scrape(e.url);
      metricsSlowestMs = Math.max(metricsSlowestMs, performance.now() - before);
      const other = await get(probeUrl(e, { target: t.base + "/a" }));
      return parseSamples(other.body).get("probe_success") === 1;
    }, { timeoutMs: 20_000 });
    assert.ok(metricsSlowestMs < 1000, `a scrape took ${Math.round(metricsSlowestMs)} ms`);
    await e.waitForLog(
      (r) => r.msg === "module host ended" && String(r.suspects).includes("looping"),
      20_000,
    );
  });
});

const CACHED = `import { Gauge } from "prom-client";
export const targets = /http:\\/\\/127\\.0\\.0\\.1:\\d+\\/\\w+/;
export const cache = "2s";
export async function probe(target, ctx) {
  const g = new Gauge({ name: "cached_value", help: "What the target served.", registers: [ctx.registry] });
  const res = await fetch(target, { signal: ctx.signal });
  if (!res.ok) { await res.body?.cancel(); throw new Error("status " + res.status); }
  g.set((await res.json()).value);
}
`;

Deno.test("a module's cache serves a recent result again, and its last good metrics when a call fails, with their age", async () => {
  await withTargets(async (e, t, dir) => {
    await Deno.writeTextFile(`${dir}/cached.ts`, CACHED);
    const url = `${e.url}/probe?module=cached&target=${t.base}/flip`;
    await waitFor(async () => (await get(url)).status === 200);
    const hits = t.hits.get("/flip")!;
    const first = parseSamples((await get(url)).body);
    assert.equal(first.get("cached_value"), 7);
    // Served from the cache: the age says so, and the target saw no request.
    assert.equal(t.hits.get("/flip"), hits);
    assert.ok(first.get("probe_cache_age_seconds")! < 2, `age ${first.get("probe_cache_age_seconds")}`);
    t.state.down = true;
    let last = new Map<string, number>();
    // Once the cached result is older than 2 s, a call is made, fails, and the last good metrics are served.
    await waitFor(async () => {
      last = parseSamples((await get(url)).body);
      return last.get("probe_success") === 0;
    }, { message: () => JSON.stringify([...last]) });
    assert.equal(last.get("cached_value"), 7);
    assert.ok(last.get("probe_cache_age_seconds")! >= 2, `age ${last.get("probe_cache_age_seconds")}`);
    const debug = (await get(`${url}&debug=true`)).body;
    assert.match(debug, /^level=error msg="probe failed" err="status 503"$/m);
    assert.match(debug, /^level=info msg="serving the last good result's metrics" age_seconds=[\d.]+$/m);
  });
});

Deno.test("examples/tls_probe.ts reads a TLS server's certificate expiry, trusted or not", async () => {
  const fixtures = new URL("./fixtures/web/", import.meta.url);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(new URL("server.pem", fixtures)),
    key: await Deno.readTextFile(new URL("server.key", fixtures)),
    onListen() {},
  }, () => new Response("ok"));
  const example = await Deno.readTextFile(new URL("../examples/tls_probe.ts", import.meta.url));
  try {
    await withExporter({ "tls_probe.ts": example }, async (e) => {
      await waitFor(async () => (await get(`${e.url}/-/ready`)).status === 200);
      const url = (target: string) => `${e.url}/probe?module=tls_probe&target=${target}`;
      const samples = parseSamples((await get(url(`127.0.0.1:${server.addr.port}`))).body);
      // The fixture's notAfter (openssl x509 -enddate): Nov  1 10:20:15 2126 GMT.
      assert.equal(samples.get("tls_probe_cert_not_after_seconds"), Date.UTC(2126, 10, 1, 10, 20, 15) / 1000);
      assert.equal(
        samples.get("tls_probe_cert_trusted"),
        0,
        "signed by the test CA, which the system does not trust",
      );
      assert.equal(samples.get("probe_success"), 1);
      assert.equal((await get(url("example.com:443"))).status, 403);
    });
  } finally {
    await server.shutdown();
  }
});
