/**
 * End to end, issue 21: module code runs in supervised host processes. Each hostile module runs
 * beside a healthy one; throughout, every scrape and /-/healthy answers, the healthy module's
 * values never disappear, and it runs again within 5 s of each host restart.
 */

import assert from "node:assert/strict";
import {
  descendants,
  type Exporter,
  scrape,
  startExporter,
  tempMetricsDir,
  tickingModule,
  waitAbove,
  waitFor,
  withExporter,
} from "./_server.ts";
import { coreShare, FAST_SUPERVISION } from "./_hosts.ts";

/**
 * Scrapes every 100 ms until `done` settles, asserting each time that /metrics and /-/healthy
 * answer within a second and that `healthy` is served; returns the number of scrapes.
 */
async function watchHealthy(e: Exporter, healthy: string, done: Promise<unknown>): Promise<number> {
  let finished = false;
  done.finally(() => finished = true).catch(() => {});
  let scrapes = 0;
  while (!finished) {
    const start = performance.now();
    const samples = await scrape(e.url);
    const health = await fetch(`${e.url}/-/healthy`);
    await health.body?.cancel();
    assert.equal(health.status, 200);
    assert.ok(performance.now() - start < 1000, `a scrape took ${Math.round(performance.now() - start)} ms`);
    assert.ok(samples.has(healthy), `${healthy} disappeared from /metrics`);
    scrapes++;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await done;
  return scrapes;
}

/** Waits for the quarantine of `module`, watching the healthy module meanwhile. */
async function quarantineOf(e: Exporter, module: string, timeoutMs = 40_000): Promise<void> {
  // The healthy module may load after the hostile one has ended its host once.
  await waitAbove(e.url, "ticking_runs", 0, 20_000);
  const quarantined = e.waitForLog((r) => r.msg === "module quarantined" && r.module === module, timeoutMs);
  await watchHealthy(e, "ticking_runs", quarantined);
  const samples = await scrape(e.url);
  assert.ok((samples.get(`dynamic_exporter_modules{state="quarantined"}`) ?? 0) >= 1);
  assert.equal(samples.get(`dynamic_exporter_module_up{module="${module}"}`), 0);
}

/** The healthy module runs again: within 5 s of now. */
async function healthyRuns(e: Exporter): Promise<void> {
  const now = (await scrape(e.url)).get("ticking_runs") ?? 0;
  await waitAbove(e.url, "ticking_runs", now, 5000);
}

Deno.test("a loop after an await is killed at its timeout plus the grace, blamed, and quarantined after 3; then all is idle", async () => {
  const files = {
    "spinner.ts": `export const interval = "300ms";
export const timeout = "300ms";
export async function process() { await Promise.resolve(); for (;;) {} }
`,
    "ticking.ts": tickingModule("ticking_runs"),
  };
  await withExporter(files, async (e, dir) => {
    const first = await e.waitForLog((r) => r.msg === "module host ended" && r.host === "shared");
    assert.match(String(first.reason), /^stopped answering/);
    assert.equal(first.suspects, "spinner");
    await quarantineOf(e, "spinner");
    await healthyRuns(e);
    // Nothing of the spinner is left running: without the ticking module, the exporter and its
    // hosts are idle.
    await Deno.remove(`${dir}/ticking.ts`);
    await waitFor(async () => !(await scrape(e.url)).has("ticking_runs"));
    const share = await coreShare(e.process.pid, 3000);
    assert.ok(share < 0.05, `the exporter and its hosts used ${share.toFixed(3)} of a core`);
    const restarts = (await scrape(e.url)).get(
      `dynamic_exporter_host_restarts_total{host="spinner",reason="silent"}`,
    );
    assert.ok((restarts ?? 0) >= 2, `restarts of the spinner's own host: ${restarts}`);
  }, { args: [...FAST_SUPERVISION] });
});

Deno.test("a module that runs its host out of memory is reported out of memory and quarantined; its neighbour keeps serving", async () => {
  const files = {
    // Many small objects: V8 runs out of heap (new Array(1e9).fill(1) instead holds the host in
    // native code, which the silence rule ends).
    "hog.ts": `export const interval = "300ms";
const keep: unknown[] = [];
export function process() { for (;;) keep.push({ n: Math.random() }); }
`,
    "ticking.ts": tickingModule("ticking_runs"),
  };
  await withExporter(files, async (e) => {
    const death = await e.waitForLog((r) => r.msg === "module host ended" && /memory/.test(String(r.reason)));
    assert.match(String(death.reason), /ran out of memory|over its budget/);
    await quarantineOf(e, "hog");
    await healthyRuns(e);
  }, { args: [...FAST_SUPERVISION, "--modules.memory=96MiB"] });
});

Deno.test("a synchronous loop is interrupted inside its host: a timeout, then a success once its flag says stop, no blame", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dx_flag_" });
  const flag = `${dir}/loop`;
  await Deno.writeTextFile(flag, "1");
  const files = {
    "looper.ts": `import { Gauge } from "prom-client";
const g = new Gauge({ name: "looper_ok", help: "h" });
export const interval = "300ms";
export const timeout = "500ms";
export function process() {
  if (Deno.readTextFileSync(${JSON.stringify(flag)}) === "1") for (;;) {}
  g.set(1);
}
`,
    "ticking.ts": tickingModule("ticking_runs"),
  };
  try {
    await withExporter(files, async (e) => {
      await waitFor(async () =>
        ((await scrape(e.url)).get(
          `dynamic_exporter_module_process_errors_total{module="looper",reason="timeout"}`,
        ) ??
          0) >= 2
      );
      await Deno.writeTextFile(flag, "0");
      await waitFor(async () => (await scrape(e.url)).get("looper_ok") === 1);
      assert.equal(e.logs.some((r) => r.msg === "module host ended"), false, "no host was killed");
      assert.equal(e.logs.some((r) => r.msg === "module quarantined" || /stuck/.test(r.msg)), false);
    }, { args: [...FAST_SUPERVISION] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a module's exit, abort, close() or self-kill is contained and reported; its neighbours keep running", async () => {
  const attempt = (name: string, body: string) =>
    `import { Gauge } from "prom-client";
const g = new Gauge({ name: "${name}_runs", help: "h" });
let runs = 0;
export const interval = "300ms";
export function process() { g.set(++runs); if (runs === 2) { ${body} } }
`;
  const files = {
    "deno_exit.ts": attempt("deno_exit", "Deno.exit(0);"),
    "process_exit.ts": attempt("process_exit", `(globalThis as any).process?.exit?.(0); Deno.exit(1);`),
    "abort.ts": attempt("abort", "(globalThis as any).process.abort();"),
    "close.ts": attempt("close", "(globalThis as any).close();"),
    "thenable.ts": attempt("thenable", `(Object.prototype as any).then = (r: any) => r(1);`),
    "response.ts": attempt("response", "(globalThis as any).Response = class {};"),
    "ticking.ts": tickingModule("ticking_runs"),
  };
  await withExporter(files, async (e) => {
    for (const name of ["deno_exit", "process_exit", "abort", "close", "thenable", "response"]) {
      await waitAbove(e.url, `${name}_runs`, 2);
    }
    const failed = e.logs.filter((r) => r.msg === "module run failed").map((r) => `${r.module}: ${r.err}`);
    assert.ok(failed.some((l) => /^deno_exit: Deno.exit\(\) is not allowed/.test(l)), failed.join("\n"));
    assert.ok(failed.some((l) => /^close: close\(\) is not allowed/.test(l)), failed.join("\n"));
    assert.ok(failed.some((l) => /^thenable: /.test(l)), failed.join("\n"));
    await healthyRuns(e);
    const health = await fetch(`${e.url}/-/healthy`);
    assert.equal(health.status, 200);
    await health.body?.cancel();
  }, { args: [...FAST_SUPERVISION] });
});

Deno.test("a loop at a module's top level and in a metric's collect() never freezes the exporter; the module is quarantined", async () => {
  const files = {
    "toplevel.ts": `for (;;) {}
export function process() {}
`,
    "collector.ts": `import { Gauge } from "prom-client";
new Gauge({ name: "collector_value", help: "h", collect() { for (;;) {} } });
export const interval = "300ms";
export function process() {}
`,
    "ticking.ts": tickingModule("ticking_runs"),
  };
  await withExporter(files, async (e) => {
    await Promise.all([quarantineOf(e, "toplevel", 60_000), quarantineOf(e, "collector", 60_000)]);
    assert.equal((await scrape(e.url)).get(`dynamic_exporter_modules{state="quarantined"}`), 2);
    await healthyRuns(e);
  }, { args: [...FAST_SUPERVISION] });
});

Deno.test("SIGTERM with a host that ignores it and modules blocked in native code: the exporter exits within --shutdown.timeout and leaves no host", async () => {
  const files = {
    "parse.ts": `export const timeout = "100ms";
export const interval = "200ms";
const big = "[" + "1,".repeat(2e7) + "1]";
export function process() { JSON.parse(big); }
`,
    "spin.ts": `export const timeout = "100ms";
export const interval = "200ms";
export async function process() { await Promise.resolve(); for (;;) {} }
`,
    "ticking.ts": tickingModule("ticking_runs"),
  };
  const dir = await tempMetricsDir(files);
  const e = await startExporter({
    metricsDir: dir,
    args: [...FAST_SUPERVISION, "--shutdown.timeout=4s", "--modules.sandbox"],
  });
  try {
    await e.waitForLog((r) => r.msg === "metrics dir loaded; ready", 20_000);
    await waitAbove(e.url, "ticking_runs", 1);
    assert.ok((await descendants(e.process.pid)).length >= 1, "no module host is running");
    const start = performance.now();
    const code = await e.stop("SIGTERM");
    const took = performance.now() - start;
    assert.ok(took < 5000, `stopping took ${Math.round(took)} ms`);
    assert.ok(code === 0 || code === 3, `exit code ${code}`);
    // Every host of this exporter names a file of its dir (--modules.sandbox). SIGKILLed as the
    // exporter exits, they are given a moment to be reaped.
    let left: string[] = [];
    await waitFor(async () => {
      const { stdout } = await new Deno.Command("ps", { args: ["-eo", "stat=,args="], stdout: "piped" })
        .output();
      left = new TextDecoder().decode(stdout).split("\n")
        .filter((line) => line.includes(dir) && !/^\s*Z/.test(line));
      return left.length === 0;
    }, { timeoutMs: 3000, message: () => `module hosts left running:\n${left.join("\n")}` });
    // Runs in flight at SIGTERM may still report; none may start after it.
    const shutdownAt = e.logs.find((r) => r.msg === "shutting down")!;
    const late = e.logs.filter((r) =>
      (r.msg === "module run" || r.msg === "module run failed") &&
      Date.parse(String(r.ts)) - Number(r.duration_seconds) * 1000 > Date.parse(String(shutdownAt.ts)) + 5
    );
    assert.deepEqual(late, [], "a run started after SIGTERM");
  } finally {
    await e.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a module needing run is granted it by --modules.allow-run, with deno.json untouched", async () => {
  const files = {
    "runner.ts": `import { Gauge } from "prom-client";
const g = new Gauge({ name: "runner_ok", help: "h" });
export async function process() {
  const { code } = await new Deno.Command("true").output();
  g.set(code === 0 ? 1 : 0);
}
`,
  };
  await withExporter(files, async (e) => {
    const failed = await e.waitForLog((r) => r.msg === "module run failed" && r.module === "runner");
    assert.match(String(failed.hint), /--modules\.allow-run=/);
  });
  const truePath = Deno.realPathSync("/usr/bin/true");
  await withExporter(files, async (e) => {
    await waitFor(async () => (await scrape(e.url)).get("runner_ok") === 1);
  }, { args: [`--modules.allow-run=true,${truePath}`] });
});

Deno.test("the declaration reader's four escapes run sandboxed: no request reaches a fixture server from their top level", async () => {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    requests++;
    return new Response("ok");
  });
  const url = `http://127.0.0.1:${server.addr.port}/`;
  // Each fetches the server at its top level; each declares `sandbox = { net: [] }` in a form the
  // old hand-written reader missed, which ran the module with every permission.
  const module = (before: string, declaration: string) =>
    `${before}
try { await fetch(${JSON.stringify(url)}); } catch { /* denied */ }
${declaration}
export function process() {}
`;
  const files = {
    "quote.ts": module("const r = /'/;", "export const sandbox = { net: [] };"),
    "backtick.ts": module("const r = /`/;", "export const sandbox = { net: [] };"),
    "escaped.ts": module("", "export const sandbo\\u0078 = { net: [] };"),
    "named.ts": module("const s = { net: [] };", `export { s as "sandbo\\u0078" };`),
    "ticking.ts": tickingModule("ticking_runs"),
  };
  try {
    await withExporter(files, async (e) => {
      await e.waitForLog((r) => r.msg === "metrics dir loaded; ready", 30_000);
      await waitAbove(e.url, "ticking_runs", 0);
      for (const name of ["quote", "backtick", "escaped", "named"]) {
        assert.ok(
          e.logs.some((r) =>
            (r.msg === "module loaded" || r.msg === "module load failed") && r.module === name
          ),
          `${name} was neither loaded nor refused`,
        );
      }
      assert.equal(requests, 0, "a module's top level reached the fixture server");
    });
  } finally {
    await server.shutdown();
  }
});
