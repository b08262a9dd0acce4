/**
 * Issue 8, items 12 to 15: the web config, basic auth and HTTP cannot be turned against the
 * exporter. Each test runs the real exporter (main.ts) with real files, HTTP and signals.
 */

import assert from "node:assert/strict";
import { gaugeModule, scrape, waitFor, withExporter } from "./_server.ts";
import { AS_PROMETHEUS, PROMETHEUS, RELOAD_OK, TLS, withSecuredExporter } from "./_web.ts";

async function status(url: string, init: RequestInit & { client?: Deno.HttpClient } = {}): Promise<number> {
  const response = await fetch(url, init);
  await response.body?.cancel();
  return response.status;
}

// Item 12

Deno.test("a web config truncated at run time is refused: TLS and auth stay, the failure is an error and 0", () =>
  withSecuredExporter(
    `${TLS}basic_auth_users:\n  ${PROMETHEUS}\n`,
    async ({ exporter, dir, config, client }) => {
      assert.equal((await scrape(exporter.url, AS_PROMETHEUS, client)).get(RELOAD_OK), 1);
      await Deno.writeTextFile(`${dir}/web.yml`, ""); // `: > web.yml`
      exporter.process.kill("SIGHUP");
      const refused = await exporter.waitForLog((r) =>
        r.msg === "web config reload failed; the previous config keeps serving"
      );
      assert.deepEqual(
        { level: refused.level, err: refused.err },
        {
          level: "error",
          err: `--web.config.file "${config}": the file is now empty; refused while running, ` +
            "the previous config keeps serving (restart the exporter to apply it)",
        },
      );
      await waitFor(async () => (await scrape(exporter.url, AS_PROMETHEUS, client)).get(RELOAD_OK) === 0);
      // Still TLS only, still basic auth.
      assert.equal(await status(`${exporter.url}/metrics`, { client }), 401);
      await assert.rejects(fetch(`${exporter.url.replace("https:", "http:")}/metrics`));
      assert.equal(exporter.logs.some((r) => r.msg === "web config reloaded"), false);
    },
  ));

Deno.test("a web config that would drop TLS or every user is refused at run time", () =>
  withSecuredExporter(`${TLS}basic_auth_users:\n  ${PROMETHEUS}\n`, async ({ exporter, dir, client }) => {
    for (
      const [yaml, why] of [
        [`basic_auth_users:\n  ${PROMETHEUS}\n`, "it would turn TLS off"],
        [TLS, "it would remove every basic auth user"],
      ]
    ) {
      await Deno.writeTextFile(`${dir}/web.yml`, yaml);
      exporter.process.kill("SIGHUP");
      await exporter.waitForLog((r) => r.level === "error" && String(r.err).includes(why));
      assert.equal((await scrape(exporter.url, AS_PROMETHEUS, client)).get(RELOAD_OK), 0);
      assert.equal(await status(`${exporter.url}/metrics`, { client }), 401);
    }
  }));

// Item 13

Deno.test("during a flood of wrong passwords a cached scrape and /-/healthy answer at once; the excess gets 429", () =>
  withSecuredExporter(`basic_auth_users:\n  ${PROMETHEUS}\n`, async ({ exporter }) => {
    const timed = async (path: string, headers: HeadersInit = {}) => {
      const started = performance.now();
      const code = await status(`${exporter.url}${path}`, { headers });
      return { code, ms: performance.now() - started };
    };
    await waitFor(async () => (await scrape(exporter.url, AS_PROMETHEUS)).has("secured_value")); // now cached
    const codes: number[] = [];
    const wrong = { authorization: `Basic ${btoa("prometheus:guess")}` };
    const flood = Promise.all(
      Array.from(
        { length: 300 },
        () => status(`${exporter.url}/metrics`, { headers: wrong }).then((c) => codes.push(c)),
      ),
    );
    let floodDone = false;
    flood.then(() => floodDone = true, () => floodDone = true);
    await waitFor(() => codes.length > 0); // the exporter is answering the flood
    // Three rounds spread over the flood; the slowest counts.
    const rounds = [];
    for (let i = 0; i < 3; i++) {
      rounds.push(await timed("/metrics", AS_PROMETHEUS), await timed("/-/healthy"));
    }
    const stillFlooding = !floodDone;
    await flood;
    const counts = Object.fromEntries([401, 429].map((c) => [c, codes.filter((x) => x === c).length]));
    assert.equal(counts[401] + counts[429], 300, `statuses: ${codes.join(",")}`);
    // Each check costs ~60 ms of bcrypt: the queue (64) holds only a fraction of the 300.
    assert.ok(counts[429] >= 100, JSON.stringify(counts));
    assert.ok(stillFlooding, "the flood was over before the timed requests: they prove nothing");
    assert.deepEqual(rounds.map((r) => r.code), [200, 200, 200, 200, 200, 200]);
    const slowest = Math.max(...rounds.map((r) => r.ms));
    assert.ok(
      slowest < 500,
      `slowest cached scrape or /-/healthy during the flood: ${slowest.toFixed(0)} ms`,
    );
  }));

// Item 14

Deno.test("a module's error with a password in it shows masked on the status page and in the log", () =>
  withExporter({
    "pg.ts": `export function process() { throw new Error("connect postgres://app:s3cret@db/x failed"); }\n`,
  }, async (exporter) => {
    let page = "";
    await waitFor(async () =>
      (page = await (await fetch(`${exporter.url}/`)).text()).includes("connect postgres")
    );
    assert.match(page, /run: connect postgres:\/\/app:\*\*\*@db\/x failed <code>/);
    const failed = await exporter.waitForLog((r) => r.msg === "module run failed" && r.module === "pg");
    assert.equal(failed.err, "connect postgres://app:***@db/x failed");
    assert.equal(page.includes("s3cret"), false);
    assert.deepEqual(
      [...exporter.logs.map((r) => JSON.stringify(r)), ...exporter.output].filter((l) =>
        l.includes("s3cret")
      ),
      [],
    );
  }));

// Item 15

Deno.test("past --web.max-requests in flight a request gets 503 at once; the probes still answer", async () => {
  const release = await Deno.makeTempFile({ prefix: "dx_release_" });
  await Deno.remove(release);
  const gated = `import { Gauge } from "prom-client";
const g = new Gauge({ name: "gated_value", help: "set once released" });
export const interval = "0";
export const timeout = "30s";
export async function process(ctx) {
  ctx.log.info("gated run started");
  for (;;) {
    try { await Deno.stat(${
    JSON.stringify(release)
  }); break; } catch { await new Promise((r) => setTimeout(r, 20)); }
  }
  g.set(1);
}
`;
  try {
    await withExporter({ "gated.ts": gated }, async (exporter) => {
      // The exporter listens before its first load is done: scrape once the module is there.
      await exporter.waitForLog((r) => r.msg === "metrics dir loaded; ready");
      const held = fetch(`${exporter.url}/metrics`);
      await exporter.waitForLog((r) => r.msg === "gated run started");
      const refused = await fetch(`${exporter.url}/`);
      assert.deepEqual(
        { status: refused.status, body: await refused.text() },
        { status: 503, body: "Too many requests in flight (--web.max-requests=1); retry later.\n" },
      );
      assert.equal(await status(`${exporter.url}/-/healthy`), 200);
      assert.equal(await status(`${exporter.url}/-/ready`), 200);
      const warned = await exporter.waitForLog((r) =>
        r.msg === "too many requests in flight; refusing with 503"
      );
      assert.deepEqual([warned.level, warned.max_requests], ["warn", 1]);
      await Deno.writeTextFile(release, "");
      const scraped = await held;
      assert.equal(scraped.status, 200);
      assert.match(await scraped.text(), /^gated_value 1$/m);
      assert.equal(await status(`${exporter.url}/`), 200);
    }, { args: ["--web.max-requests=1"] });
  } finally {
    await Deno.remove(release).catch(() => {});
  }
});

/** Resolves with what the server sent once it closes `conn`. */
async function readUntilClosed(conn: Deno.Conn): Promise<string> {
  const chunks: string[] = [];
  const buffer = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buffer).catch(() => null);
    if (n === null) return chunks.join("");
    chunks.push(new TextDecoder().decode(buffer.subarray(0, n)));
  }
}

Deno.test("idle connections, silent or kept alive after a response, are closed within --web.idle-timeout", () =>
  withExporter({}, async (exporter) => {
    const { hostname, port } = new URL(exporter.url);
    const [silent, keptAlive] = await Promise.all([
      Deno.connect({ hostname, port: Number(port) }),
      Deno.connect({ hostname, port: Number(port) }),
    ]);
    try {
      await keptAlive.write(new TextEncoder().encode("GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"));
      const started = performance.now();
      const [fromSilent, fromKeptAlive] = await Promise.all([
        readUntilClosed(silent),
        readUntilClosed(keptAlive),
      ]);
      const closedAfterMs = performance.now() - started;
      assert.deepEqual([fromSilent, fromKeptAlive.endsWith("Healthy.\n")], ["", true]);
      // Each is closed at the next rebind: within one timeout (1 s), with margin for load.
      assert.ok(closedAfterMs < 5000, `closed after ${closedAfterMs.toFixed(0)} ms`);
      let answer = 0;
      await waitFor(async () => (answer = await status(`${exporter.url}/-/healthy`).catch(() => 0)) === 200);
      assert.equal(answer, 200);
    } finally {
      silent.close();
      keptAlive.close();
    }
  }, { args: ["--web.idle-timeout=1s"] }));

Deno.test("a burst of POST /-/reload shares reloads instead of queueing one each", () =>
  withExporter({ "a.ts": gaugeModule("a_value", 1) }, async (exporter) => {
    await waitFor(async () => (await scrape(exporter.url)).has("a_value"));
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () => status(`${exporter.url}/-/reload`, { method: "POST" })),
    );
    assert.deepEqual(statuses, Array(20).fill(200));
    const reloads = exporter.logs.filter((r) =>
      r.msg === "reloading every module" && r.reason === "POST /-/reload"
    );
    assert.ok(reloads.length >= 1 && reloads.length <= 2, `${reloads.length} reloads for 20 calls`);
  }, { args: ["--web.enable-lifecycle"] }));
