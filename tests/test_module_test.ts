/**
 * `deno task test-module` and `deno task test-modules` (issue 19): the tasks as authors run them,
 * on real module files, against a real backend on loopback for recording and with that backend
 * stopped for replays.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { runTask, tempMetricsDir } from "./_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function task(
  name: "test-module" | "test-modules",
  args: string[],
  env: Record<string, string> = {},
  options: { deadlineMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runTask([name, ...args], env, options);
}

/** A loopback backend answering /queues with `body()`, counting what it was asked. */
function backend(body: (request: Request) => Response) {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    seen.push(`${request.method} ${new URL(request.url).pathname} ${request.headers.get("authorization")}`);
    return body(request);
  });
  return { server, seen, url: `http://127.0.0.1:${server.addr.port}` };
}

/** Reads its backend (ORDERS_URL, with a credential), a file beside it and the clock. */
const ORDERS = `import { Gauge } from "prom-client";
const base = Deno.env.get("ORDERS_URL") ?? "http://127.0.0.1:9";
const depth = new Gauge({ name: "orders_queue_depth", help: "Orders waiting.", labelNames: ["queue"] });
const age = new Gauge({ name: "orders_config_age_seconds", help: "Age of the config file." });
export async function process(ctx) {
  const res = await fetch(base + "/queues", { signal: ctx.signal, headers: { authorization: "Bearer s3cret-token" } });
  if (!res.ok) throw new Error("the backend answered " + res.status);
  const queues = await res.json();
  depth.reset();
  for (const [queue, n] of Object.entries(queues)) depth.set({ queue }, n);
  const { mtime } = await Deno.stat(new URL("config.json", import.meta.url));
  age.set(Math.round((Date.now() - mtime.getTime()) / 1000));
  ctx.log.info("queues read", { queues: Object.keys(queues).length });
}
`;

const up = (value: 0 | 1) =>
  `# HELP dynamic_exporter_module_up Whether the module's last process() run and render succeeded.
# TYPE dynamic_exporter_module_up gauge
dynamic_exporter_module_up{module="orders"} ${value}
`;

const depthFamily = (values: Record<string, number>) =>
  `# HELP orders_queue_depth Orders waiting.\n# TYPE orders_queue_depth gauge\n` +
  Object.entries(values).map(([q, n]) => `orders_queue_depth{queue="${q}"} ${n}\n`).join("");

Deno.test("test-module records a module against its backend, and replays it with the backend stopped", async () => {
  const dir = await tempMetricsDir({ "orders.ts": ORDERS, "config.json": "{}" });
  await Deno.utime(`${dir}/config.json`, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
  const fake = backend(() => Response.json({ a: 3, b: 5 }));
  try {
    const recorded = await task("test-module", [`${dir}/orders.ts`, "--record"], { ORDERS_URL: fake.url });
    assert.equal(recorded.code, 0, recorded.stdout + recorded.stderr);
    assert.match(
      recorded.stdout,
      /^ok {3}orders: record recorded .*\n.*note: recorded 1 fetch, 0 commands, 1 files, 1 settings/,
    );
    assert.deepEqual(fake.seen, ["GET /queues Bearer s3cret-token"]);
    const fixture = await Deno.readTextFile(`${dir}/_fixtures/orders/recorded/run1.json`);
    assert.doesNotMatch(fixture, /s3cret/, "the credential is masked in the recording");
    const run = JSON.parse(fixture);
    assert.equal(run.fetch[0].headers.authorization, "Bearer ***");
    assert.equal(run.fetch[0].url, `${fake.url}/queues`);
    assert.deepEqual(run.env, { ORDERS_URL: fake.url });
    assert.deepEqual(
      Object.keys(run.files),
      ["./config.json"],
      "a file beside the module is named relative to it",
    );
    const golden = await Deno.readTextFile(`${dir}/_fixtures/orders/recorded/run1.prom`);
    const age = Number(/orders_config_age_seconds (\d+)/.exec(golden)?.[1]);
    assert.ok(age >= 3600 && age < 3660, golden);
    assert.equal(
      golden,
      `# HELP orders_config_age_seconds Age of the config file.\n# TYPE orders_config_age_seconds gauge\n` +
        `orders_config_age_seconds ${age}\n` + depthFamily({ a: 3, b: 5 }) + up(1),
    );

    await fake.server.shutdown();
    // The replay's own exposition, written over a copy of the golden file, is the recorded one byte for byte.
    const replayed = await task("test-module", [`${dir}/orders.ts`, "--update"]);
    assert.equal(replayed.code, 0, replayed.stdout + replayed.stderr);
    assert.equal(await Deno.readTextFile(`${dir}/_fixtures/orders/recorded/run1.prom`), golden);
    const again = await task("test-module", [`${dir}/orders.ts`]);
    assert.equal(
      again.stdout.split("\n")[0].replace(/\(\d+ms\)/, "(ms)"),
      "ok   orders: recorded run 1 (ms)",
    );
    assert.equal(again.code, 0);
    assert.equal(fake.seen.length, 1, "the replays asked the backend nothing");
  } finally {
    await fake.server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

/** A three-run scenario: the backend answers, then 500, then without queue b. */
async function outageScenario(dir: string, base: string): Promise<void> {
  const scenario = `${dir}/_fixtures/orders/outage`;
  await Deno.mkdir(scenario, { recursive: true });
  const run = (response: unknown) =>
    JSON.stringify({
      clock: 1_800_000_000_000,
      fetch: [{ method: "GET", url: `${base}/queues`, response }],
      files: {
        "./config.json": { stat: { isFile: true, isDirectory: false, size: 2, mtime: 1_799_999_990_000 } },
      },
      env: { ORDERS_URL: base },
    });
  await Deno.writeTextFile(`${scenario}/run1.json`, run({ status: 200, body: '{"a":3,"b":5}' }));
  await Deno.writeTextFile(`${scenario}/run2.json`, run({ status: 500, body: "overloaded" }));
  await Deno.writeTextFile(`${scenario}/run3.json`, run({ status: 200, body: '{"a":7}' }));
  const age =
    `# HELP orders_config_age_seconds Age of the config file.\n# TYPE orders_config_age_seconds gauge\n` +
    `orders_config_age_seconds 10\n`;
  await Deno.writeTextFile(`${scenario}/run1.prom`, age + depthFamily({ a: 3, b: 5 }) + up(1));
  // The backend failed: the last values stay, and module_up is 0.
  await Deno.writeTextFile(`${scenario}/run2.prom`, age + depthFamily({ a: 3, b: 5 }) + up(0));
  // Queue b is gone: so is its series. Written by hand: label order and "7.0" do not count.
  await Deno.writeTextFile(
    `${scenario}/run3.prom`,
    `${
      up(1)
    }orders_config_age_seconds 10.0\n# TYPE orders_queue_depth gauge\norders_queue_depth{queue="a"} 7.0\n` +
      `# HELP orders_queue_depth Orders waiting.\n# TYPE orders_config_age_seconds gauge\n` +
      `# HELP orders_config_age_seconds Age of the config file.\n`,
  );
}

Deno.test("test-module runs a three-run scenario (ok, backend 500, series dropped) and fails with a readable diff when a golden file differs", async () => {
  const dir = await tempMetricsDir({ "orders.ts": ORDERS, "config.json": "{}" });
  try {
    await outageScenario(dir, "http://orders.internal:8080");
    const passed = await task("test-module", [`${dir}/orders.ts`]);
    assert.equal(passed.code, 0, passed.stdout);
    assert.deepEqual(passed.stdout.replace(/\(\d+ms\)/g, "(ms)").split("\n"), [
      "ok   orders: outage run 1 (ms)",
      "ok   orders: outage run 2 (ms)",
      "ok   orders: outage run 3 (ms)",
      "ok: 3 passed",
      "",
    ]);

    // A golden file that says the series of b stays after run 3 is wrong: the diff says how.
    const run3 = `${dir}/_fixtures/orders/outage/run3.prom`;
    await Deno.writeTextFile(run3, (await Deno.readTextFile(run3)) + `orders_queue_depth{queue="b"} 5\n`);
    const failed = await task("test-module", [`${dir}/orders.ts`]);
    assert.equal(failed.code, 1);
    const lines = failed.stdout.replace(/\(\d+ms\)/g, "(ms)").split("\n");
    assert.deepEqual(lines.slice(2, 8), [
      "FAIL orders: outage run 3 (ms)",
      `       served differs from ${run3} (- golden, + served):`,
      "         family orders_queue_depth:",
      '         - orders_queue_depth{queue="b"} 5',
      "       log info: queues read queues=1",
      "FAILED: 1 of 3 failed",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("test-module replays a sandboxed module within its sandbox, and a replay reaches no backend and no file outside its fixture", async () => {
  const fake = backend(() => Response.json({ a: 1 }));
  const dir = await tempMetricsDir({
    "sandboxed.ts": `import { Gauge } from "prom-client";
export const sandbox = { net: ["127.0.0.1:${fake.server.addr.port}"], read: ["/etc/hostname"] };
const g = new Gauge({ name: "sandboxed_a", help: "a" });
export async function process(ctx) {
  g.set((await (await fetch("${fake.url}/queues", { signal: ctx.signal })).json()).a);
}
`,
    // Asks a URL its fixture does not hold, and reads a file with node:fs, which no fixture serves.
    "strays.ts": `import { readFileSync } from "node:fs";
import { Gauge } from "prom-client";
const g = new Gauge({ name: "strays_a", help: "a" });
export async function process() {
  if (Deno.env.get("STRAY") === "fs") readFileSync("/etc/hostname");
  else await fetch("${fake.url}/elsewhere");
  g.set(1);
}
`,
  });
  try {
    const recorded = await task("test-module", [`${dir}/sandboxed.ts`, "--record"]);
    assert.equal(recorded.code, 0, recorded.stdout);
    await fake.server.shutdown();
    const replayed = await task("test-module", [`${dir}/sandboxed.ts`]);
    assert.equal(replayed.code, 0, replayed.stdout);
    assert.match(replayed.stdout, /^ok {3}sandboxed: recorded run 1/);

    for (
      const [stray, error] of [
        [
          "net",
          `test-module: the fixture of run 1 of scenario "s" has no answer for GET ${fake.url}/elsewhere`,
        ],
        ["fs", `Requires read access to "/etc/hostname"`],
      ]
    ) {
      await Deno.mkdir(`${dir}/_fixtures/strays/s`, { recursive: true });
      await Deno.writeTextFile(
        `${dir}/_fixtures/strays/s/run1.json`,
        JSON.stringify({ env: { STRAY: stray } }),
      );
      const strayed = await task("test-module", [`${dir}/strays.ts`]);
      assert.equal(strayed.code, 1, strayed.stdout);
      assert.ok(strayed.stdout.includes(`the run failed: ${error}`), strayed.stdout);
    }
    assert.equal(fake.seen.length, 1, "only the recording reached the backend");
  } finally {
    await fake.server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("test-module runs the checks beside the fixtures, and reports in TAP and JUnit", async () => {
  const dir = await tempMetricsDir({ "orders.ts": ORDERS, "config.json": "{}" });
  try {
    await outageScenario(dir, "http://orders.internal:8080");
    await Deno.writeTextFile(
      `${dir}/_fixtures/orders/checks.ts`,
      `import assert from "node:assert/strict";
export const checks = {
  "outage/1": (run) => assert.equal(run.sample("orders_queue_depth", { queue: "a" }), 3),
  "outage/2": (run) => { assert.equal(run.up, false); assert.equal(run.error, "the backend answered 500"); },
  "outage/3": (run) => assert.equal(run.sample("orders_queue_depth", { queue: "b" }), 5, "b <is> still there"),
  "outage/4": () => {},
};
`,
    );
    const tap = await task("test-module", [`${dir}/orders.ts`, "--format=tap"]);
    assert.equal(tap.code, 1);
    assert.deepEqual(tap.stdout.split("\n"), [
      "TAP version 13",
      "1..4",
      "ok 1 - orders: outage run 1",
      "ok 2 - orders: outage run 2",
      "not ok 3 - orders: outage run 3",
      "  ---",
      "  message: |",
      `    check "outage/3" failed: b <is> still there`,
      "    undefined !== 5",
      "    log info: queues read queues=1",
      "  ...",
      "not ok 4 - orders: checks",
      "  ---",
      "  message: |",
      `    ${dir}/_fixtures/orders/checks.ts: "outage/4" names no run (keys are "<scenario>/<run>")`,
      "  ...",
      "",
    ]);
    const junit = await task("test-module", [`${dir}/orders.ts`, "--format=junit"]);
    assert.equal(junit.code, 1);
    assert.match(
      junit.stdout,
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="test-module" tests="4" failures="2" /,
    );
    assert.match(junit.stdout, /<testcase classname="orders" name="outage run 2" time="[0-9.]+"\/>/);
    assert.ok(
      junit.stdout.includes(
        `<failure message="check &#34;outage/3&#34; failed: b &#60;is&#62; still there">`,
      ),
      junit.stdout,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("test-module says what is wrong with a fixture, and with a module that has none", async () => {
  const dir = await tempMetricsDir({ "orders.ts": ORDERS, "bare.ts": ORDERS });
  try {
    await Deno.mkdir(`${dir}/_fixtures/orders/broken`, { recursive: true });
    await Deno.writeTextFile(`${dir}/_fixtures/orders/broken/run1.json`, `{"fetch": [{"url": "/queues"}]}`);
    await Deno.writeTextFile(`${dir}/_fixtures/orders/broken/run3.json`, `{}`);
    const broken = await task("test-module", [`${dir}/orders.ts`]);
    assert.equal(broken.code, 1);
    assert.ok(
      broken.stdout.includes(
        `${dir}/_fixtures/orders/broken: run2.json is missing (runs are numbered from 1 with no gap)`,
      ),
      broken.stdout,
    );
    await Deno.remove(`${dir}/_fixtures/orders/broken/run3.json`);
    const bad = await task("test-module", [`${dir}/orders.ts`]);
    assert.ok(
      bad.stdout.includes(
        `${dir}/_fixtures/orders/broken/run1.json: fetch[0].url is not an absolute URL: "/queues"`,
      ),
      bad.stdout,
    );
    const bare = await task("test-module", [`${dir}/bare.ts`]);
    assert.equal(bare.code, 1);
    assert.ok(bare.stdout.includes(`no fixtures: ${dir}/_fixtures/bare does not exist`), bare.stdout);

    // A golden file that is a FIFO is refused, not waited on; a fixture folder that is a file fails its module only.
    await Deno.writeTextFile(`${dir}/_fixtures/orders/broken/run1.json`, "{}");
    const fifo = await new Deno.Command("mkfifo", { args: [`${dir}/_fixtures/orders/broken/run1.prom`] })
      .output();
    assert.ok(fifo.success);
    await Deno.writeTextFile(`${dir}/_fixtures/bare`, "not a folder");
    // A module path that is a FIFO is refused too, not read until a writer comes.
    assert.ok((await new Deno.Command("mkfifo", { args: [`${dir}/piped.ts`] }).output()).success);
    await Deno.mkdir(`${dir}/_fixtures/piped/s`, { recursive: true });
    await Deno.writeTextFile(`${dir}/_fixtures/piped/s/run1.json`, "{}");
    const hostile = await task("test-module", [`${dir}/bare.ts`, `${dir}/orders.ts`, `${dir}/piped.ts`], {}, {
      deadlineMs: 30_000,
    });
    assert.equal(hostile.code, 1);
    assert.match(
      hostile.stdout,
      /^FAIL piped: s \(0ms\)\n {7}.*\/piped\.ts: is a FIFO, not a regular file$/m,
    );
    assert.ok(
      hostile.stdout.includes(`${dir}/_fixtures/orders/broken/run1.prom: is a FIFO, not a regular file`),
      hostile.stdout,
    );
    assert.match(hostile.stdout, /^FAIL bare: fixtures \(0ms\)\n {7}Not a directory/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("test-module fails a check that never settles, and a checks file whose import never does, within their timeouts", async () => {
  const gauge = (name: string) =>
    `import { Gauge } from "prom-client";\nexport const timeout = "1s";\n` +
    `const g = new Gauge({ name: "${name}_a", help: "a" });\nexport function process() { g.set(1); }\n`;
  const dir = await tempMetricsDir({ "stuck.ts": gauge("stuck"), "stalled.ts": gauge("stalled") });
  try {
    for (
      const [module, checks] of [
        ["stuck", `export const checks = { "s/1": () => new Promise(() => {}) };\n`],
        ["stalled", `await new Promise((resolve) => setTimeout(resolve, 1e9));\nexport const checks = {};\n`],
      ]
    ) {
      await Deno.mkdir(`${dir}/_fixtures/${module}/s`, { recursive: true });
      await Deno.writeTextFile(`${dir}/_fixtures/${module}/s/run1.json`, "{}");
      await Deno.writeTextFile(`${dir}/_fixtures/${module}/checks.ts`, checks);
    }
    const { code, stdout } = await task("test-module", [dir, "--collect.timeout=1s"], {}, {
      deadlineMs: 30_000,
    });
    assert.equal(code, 1, stdout);
    assert.deepEqual(stdout.replace(/\(\d+ms\)/g, "(ms)").split("\n"), [
      "FAIL stalled: checks (ms)",
      `       ${dir}/_fixtures/stalled/checks.ts: its import did not finish within 1000ms`,
      "FAIL stuck: s run 1 (ms)",
      "       note: no golden file run1.prom (write it with --update)",
      `       check "s/1" failed: it did not finish within 1000ms`,
      "FAILED: 2 of 2 failed",
      "",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("test-modules runs every shipped example that has fixtures, and they pass", async () => {
  const { code, stdout } = await task("test-modules", ["--format=tap"]);
  assert.equal(code, 0, stdout);
  const cases = stdout.split("\n").filter((line) => /^(not )?ok \d+ - /.test(line));
  for (const module of ["backup_status", "df", "json_probe"]) {
    assert.ok(cases.some((line) => line.includes(`- ${module}: `)), `${module} is tested: ${stdout}`);
  }
  assert.ok(cases.every((line) => line.startsWith("ok ")), stdout);
});

Deno.test("test-module records the shipped examples against a loopback backend and replays them with it stopped, the same exposition byte for byte", async () => {
  const dir = await tempMetricsDir({
    "http_probe.ts": await Deno.readTextFile(`${ROOT}metrics/http_probe.ts`),
    "json_probe.ts": await Deno.readTextFile(`${ROOT}examples/json_probe.ts`),
  });
  const fake = backend(() => Response.json({ status: "ok", queue_depth: 12, workers: 4 }));
  try {
    const http = await task("test-module", [`${dir}/http_probe.ts`, "--record"], {
      PROBE_URL: `${fake.url}/`,
    });
    assert.equal(http.code, 0, http.stdout);
    const json = await task("test-module", [
      `${dir}/json_probe.ts`,
      "--record",
      `--target=${fake.url}/health`,
    ]);
    assert.equal(json.code, 0, json.stdout);
    assert.equal(fake.seen.length, 2);
    await fake.server.shutdown();

    const golden = (module: string) => Deno.readTextFile(`${dir}/_fixtures/${module}/recorded/run1.prom`);
    const recorded = { http: await golden("http_probe"), json: await golden("json_probe") };
    // The duration http_probe measures with performance.now() replays as recorded, too.
    assert.match(recorded.http, /^http_probe_duration_seconds\{url="http:\/\/127\.0\.0\.1:\d+\/"\} 0\.\d+$/m);
    assert.match(recorded.json, /^json_probe_value\{field="queue_depth"\} 12$/m);
    const replayed = await task("test-module", [`${dir}/http_probe.ts`, `${dir}/json_probe.ts`, "--update"]);
    assert.equal(replayed.code, 0, replayed.stdout);
    assert.deepEqual({ http: await golden("http_probe"), json: await golden("json_probe") }, recorded);
    assert.equal(fake.seen.length, 2, "the replays asked the backend nothing");
  } finally {
    await fake.server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("test-module masks a credential in a recorded URL, and the replay still matches the request", async () => {
  const fake = backend(() => Response.json({ a: 4 }));
  const dir = await tempMetricsDir({
    "keyed.ts": `import { Gauge } from "prom-client";
const g = new Gauge({ name: "keyed_a", help: "a" });
export async function process() {
  g.set((await (await fetch("http://127.0.0.1:${fake.server.addr.port}/q?api_key=s3cret&page=2")).json()).a);
}
`,
  });
  try {
    const recorded = await task("test-module", [`${dir}/keyed.ts`, "--record"]);
    assert.equal(recorded.code, 0, recorded.stdout);
    const fixture = await Deno.readTextFile(`${dir}/_fixtures/keyed/recorded/run1.json`);
    assert.doesNotMatch(fixture, /s3cret/);
    assert.equal(
      JSON.parse(fixture).fetch[0].url,
      `http://127.0.0.1:${fake.server.addr.port}/q?api_key=***&page=2`,
    );
    await fake.server.shutdown();
    const replayed = await task("test-module", [`${dir}/keyed.ts`]);
    assert.equal(replayed.code, 0, replayed.stdout);
    assert.equal(fake.seen.length, 1);
  } finally {
    await fake.server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("test-module records a command fed on its stdin and a fetch that was redirected, and replays both as they were", async () => {
  const fake = backend((request) =>
    new URL(request.url).pathname === "/old"
      ? Response.redirect(new URL("/queues", request.url), 301)
      : Response.json({ a: 4 })
  );
  const dir = await tempMetricsDir({
    "fed.ts": `import { Gauge } from "prom-client";
const g = new Gauge({ name: "fed_v", help: "v", labelNames: ["what"] });
export async function process(ctx) {
  const res = await fetch("${fake.url}/old", { signal: ctx.signal });
  g.set({ what: "redirected" }, res.redirected ? 1 : 0);
  g.set({ what: "moved" }, new URL(res.url).pathname === "/queues" ? 1 : 0);
  const child = new Deno.Command("cat", { stdin: "piped", stdout: "piped" }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(String((await res.json()).a)));
  await writer.close();
  g.set({ what: "fed" }, Number(new TextDecoder().decode((await child.output()).stdout)));
}
`,
  });
  try {
    const recorded = await task("test-module", [`${dir}/fed.ts`, "--record", "--modules.allow-run=cat"]);
    assert.equal(recorded.code, 0, recorded.stdout);
    await fake.server.shutdown();
    const golden = await Deno.readTextFile(`${dir}/_fixtures/fed/recorded/run1.prom`);
    assert.equal(
      golden.split("\n").filter((line) => line.startsWith("fed_v")).join("\n"),
      `fed_v{what="redirected"} 1\nfed_v{what="moved"} 1\nfed_v{what="fed"} 4`,
    );
    const replayed = await task("test-module", [`${dir}/fed.ts`]);
    assert.equal(replayed.code, 0, replayed.stdout);
    assert.equal(fake.seen.length, 2, "the replay asked the backend nothing");
  } finally {
    await fake.server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
