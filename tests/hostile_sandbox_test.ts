/**
 * End to end, issue 9 attacked: sandboxed modules that try to confuse the static reader of
 * their declaration, flood the exporter through their Worker's messages, or reach files the
 * loader must not read. Each runs next to a healthy module through the real exporter.
 */

import assert from "node:assert/strict";
import {
  type Exporter,
  type LogRecord,
  observationWindow,
  scrape,
  ScrapeTimer,
  startExporter,
  tempMetricsDir,
  tickingModule,
  waitAbove,
  waitFor,
  waitForSample,
  withExporter,
} from "./_server.ts";
import { loadOk, up } from "./_samples.ts";

const RSS = "process_resident_memory_bytes";

/** A module that declares `sandbox = {}` in a way `prelude` and `trailer` try to hide, and reads HOME. */
function envReader(name: string, prelude: string, trailer = ""): string {
  return `import { Gauge } from "prom-client";
const g = new Gauge({ name: "${name}_home", help: "h" });
${prelude}
export const sandbox = {};
${trailer}
export function process() { g.set(String(Deno.env.get("HOME")).length); }
`;
}

Deno.test("a declaration after a regex or a nested template holding comment marks still runs the module in a Worker", async () => {
  const files = {
    // A regex literal holding "/*" and another holding "*/" read as one block comment
    // hid the declaration between them: the module ran in-process with every permission.
    "regex.ts": envReader("regex", "const open = /a\\/*/;", "const close = /b*/;"),
    // A template nested in a template's ${} made the reader end the outer one early.
    "nested.ts": envReader("nested", "const open = `${`/*`}`;", "const close = `*/`;"),
    "ticking.ts": tickingModule("ticking_runs"),
  };
  await withExporter(files, async (e) => {
    for (const name of ["regex", "nested"]) {
      const failed = await e.waitForLog((r) => r.msg === "module run failed" && r.module === name);
      assert.match(String(failed.err), /^Requires env access to "HOME"/, name);
    }
    const samples = await scrape(e.url);
    assert.deepEqual([samples.get(up("regex")), samples.get(up("nested"))], [0, 0]);
    assert.equal(samples.has("regex_home"), false);
    await waitAbove(e.url, "ticking_runs", samples.get("ticking_runs") ?? 0);
  });
});

Deno.test("a declaration after a regex holding a quote, or with an escaped name, still runs the module in a Worker", async () => {
  const files = {
    // The hand lexer read a quote or a backtick in a regex literal as the start of a string,
    // and the declaration after it as text: the module ran in-process with every permission.
    "regex_quote.ts": envReader("regex_quote", "const q = /'/;"),
    "regex_tick.ts": envReader("regex_tick", "const t = /`/;"),
    // `sandbo\u0078` is `sandbox` to the engine, not to a regular expression.
    "escaped_name.ts": envReader("escaped_name", "", "").replace("sandbox", "sandbo\\u0078"),
    "string_name.ts": envReader("string_name", "", "").replace(
      "export const sandbox = {};",
      'const s = {};\nexport { s as "sandbo\\u0078" };',
    ),
    "ticking.ts": tickingModule("ticking_runs"),
  };
  const names = ["regex_quote", "regex_tick", "escaped_name", "string_name"];
  await withExporter(files, async (e) => {
    for (const name of names) {
      const failed = await e.waitForLog((r) => r.msg === "module run failed" && r.module === name);
      assert.match(String(failed.err), /^Requires env access to "HOME"/, name);
    }
    const samples = await scrape(e.url);
    assert.deepEqual(names.map((name) => samples.get(up(name))), [0, 0, 0, 0]);
    assert.deepEqual(names.filter((name) => samples.has(`${name}_home`)), []);
  });
});

Deno.test("a sandbox literal inside a string grants nothing: only a real export does", async () => {
  const module = `import { Gauge } from "prom-client";
const g = new Gauge({ name: "stringy_home", help: "h" });
const text = "export const sandbox = { env: ['HOME'] }";
const doc = \`
export const sandbox = { env: ["HOME"] };
\`;
export function process() { g.set(String(Deno.env.get("HOME")).length + text.length * 0 + doc.length * 0); }
`;
  await withExporter({ "stringy.ts": module, "ticking.ts": tickingModule("ticking_runs") }, async (e) => {
    const failed = await e.waitForLog((r) => r.msg === "module run failed" && r.module === "stringy");
    assert.match(String(failed.err), /^Requires env access to "HOME"/);
    assert.equal((await scrape(e.url)).has("stringy_home"), false);
  }, { args: ["--modules.sandbox"] });
});

Deno.test("a sandbox export the reader cannot read is refused before any of the module's code runs", async () => {
  // Each prints a marker at import: in-process, that line reaches the exporter's stderr.
  const marker = (name: string) => `console.error("imported ${name}");`;
  const files = {
    "let.ts": `${marker("let")}\nexport let sandbox = {};\nexport function process() {}\n`,
    "destructured.ts": `${marker("destructured")}\nexport const { sandbox } = { sandbox: {} };\n` +
      `export function process() {}\n`,
    "fn.ts": `${marker("fn")}\nexport function sandbox() {}\nexport function process() {}\n`,
    // A package's exports cannot be read before it runs, and could hold a sandbox.
    "star.ts": `${marker("star")}\nexport * from "prom-client";\nexport function process() {}\n`,
    "ticking.ts": tickingModule("ticking_runs"),
  };
  const refusals: [string, RegExp][] = [
    ["let", /^"sandbox" must be declared with const: export const sandbox = \{ ... \}, not let/],
    [
      "destructured",
      /^"sandbox" must be exported as a literal: export const sandbox = \{ ... \}, not by a destructuring/,
    ],
    ["fn", /^"sandbox" must be exported as a literal: export const sandbox = \{ ... \}, not a function/],
    ["star", /^"sandbox" could come from export \* from "prom-client" \(at 2:1\), which is not a local file/],
  ];
  await withExporter(files, async (e) => {
    for (const [name, message] of refusals) {
      const failed = await e.waitForLog((r) => r.msg === "module load failed" && r.module === name);
      assert.match(String(failed.err), message, name);
    }
    assert.deepEqual(e.output.filter((line) => line.startsWith("imported ")), []);
    const samples = await scrape(e.url);
    assert.deepEqual(refusals.map(([m]) => samples.get(loadOk(m))), [0, 0, 0, 0]);
  });
});

Deno.test("a sandbox re-exported from a local helper is read before the module runs: the module runs in a Worker", async () => {
  const files = {
    "reexport.ts": `import { Gauge } from "prom-client";
const g = new Gauge({ name: "reexport_home", help: "h" });
export * from "./lib/decl.ts";
export function process() {
  g.set(String(Deno.env.get("HOME")).length);
  Deno.env.get("PATH");
}
`,
    "lib/decl.ts": `export const sandbox = { env: ["HOME"] };\n`,
    "ticking.ts": tickingModule("ticking_runs"),
  };
  await withExporter(files, async (e) => {
    // HOME is granted by the helper's declaration; PATH, which in-process would be, is not.
    const failed = await e.waitForLog((r) => r.msg === "module run failed" && r.module === "reexport");
    assert.match(String(failed.err), /^Requires env access to "PATH"/);
    assert.equal((await scrape(e.url)).get(loadOk("reexport")), 1);
  });
});

/** Fails as soon as the exporter's RSS passes `bytes` (read from /proc), so a runaway read cannot take the machine. */
async function assertRssStaysUnder(
  e: Exporter,
  bytes: number,
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline && !signal?.aborted) {
    const status = await Deno.readTextFile(`/proc/${e.process.pid}/status`).catch(() => "");
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    if (rss > bytes) {
      await e.stop("SIGKILL");
      assert.fail(`the exporter's RSS reached ${(rss / 1e6).toFixed(0)} MB`);
    }
    await observationWindow(50);
  }
}

Deno.test("a helper that is a device or a FIFO fails its importer's load; nothing reads it", async () => {
  const importer = (helper: string, sandboxed: boolean) =>
    `import { value } from "./lib/${helper}";
${sandboxed ? "export const sandbox = {};" : ""}
export function process() { return value; }
`;
  const outside = await Deno.makeTempDir({ prefix: "dx_fifo_" });
  const dir = await tempMetricsDir({
    "zero.ts": importer("zero.ts", true),
    "fifo.ts": importer("fifo.ts", false),
    "ticking.ts": tickingModule("ticking_runs"),
  });
  let e: Exporter | undefined;
  try {
    const made = await new Deno.Command("mkfifo", { args: [`${outside}/fifo`] }).output();
    assert.ok(made.success);
    await Deno.mkdir(`${dir}/lib`);
    await Deno.symlink("/dev/zero", `${dir}/lib/zero.ts`);
    await Deno.symlink(`${outside}/fifo`, `${dir}/lib/fifo.ts`);
    e = await startExporter({ metricsDir: dir });
    const failed = (name: string) =>
      e!.waitForLog((r) => r.msg === "module load failed" && r.module === name);
    const done = new AbortController();
    const guard = assertRssStaysUnder(e, 1e9, 10_000, done.signal);
    const [zero, fifo] = await Promise.race([
      Promise.all([failed("zero"), failed("fifo")]).finally(() => done.abort()),
      guard.then(() => assert.fail("no load failure within 10 s")),
    ]);
    await guard;
    assert.equal(zero.err, `its helper ${dir}/lib/zero.ts is a character device, not a regular file`);
    assert.equal(fifo.err, `its helper ${dir}/lib/fifo.ts is a FIFO, not a regular file`);
    await waitAbove(e.url, "ticking_runs", (await scrape(e.url)).get("ticking_runs") ?? 0);
  } finally {
    await e?.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("a sandboxed module flooding its log is cut short, then replaced; the exporter keeps answering", async () => {
  const flood = `export const sandbox = {};
export const interval = "1s";
export function process(ctx) {
  // Shapes the exporter's own code used to trip on.
  const cyclic = { n: 1n };
  cyclic.self = cyclic;
  self.postMessage({ type: "log", level: "constructor", msg: { toString: null }, fields: { cyclic } });
  self.postMessage({ type: "uncaught", error: null });
  self.postMessage(null);
  ctx.log.info("x".repeat(20_000_000));
  for (let i = 0; i < 100_000; i++) ctx.log.info("flood line", { i });
  // Straight to the exporter, past the Worker's own ctx.log.
  for (let i = 0; i < 100_000; i++) self.postMessage({ type: "log", level: "error", msg: "forged", fields: { i } });
}
`;
  await withExporter({ "flood.ts": flood, "ticking.ts": tickingModule("ticking_runs") }, async (e) => {
    await e.waitForLog((r) => r.msg === "sandboxed module log lines dropped" && r.module === "flood", 15_000);
    const failed = await e.waitForLog((r) => r.msg === "module run failed" && r.module === "flood");
    assert.equal(
      failed.err,
      "the module's Worker posted more than 10000 messages in a second; it was replaced",
    );
    const timer = new ScrapeTimer(e.url);
    for (let i = 0; i < 10; i++) {
      await timer.scrape();
      await observationWindow(300);
    }
    assert.ok(timer.slowestMs < 1500, `a scrape took ${timer.slowestMs.toFixed(0)} ms`);
    const lines = e.logs.filter((r) =>
      r.module === "flood" && (r.msg === "flood line" || r.msg === "forged")
    );
    assert.ok(lines.length < 2000, `${lines.length} lines of the flood were logged`);
    const long = e.logs.find((r) => r.module === "flood" && r.msg.startsWith("xxx"));
    assert.ok(
      long === undefined || long.msg.length <= 4200,
      `a ${long?.msg.length}-character line was logged`,
    );
    assert.deepEqual(e.logs.filter((r) => r.msg === "uncaught exception, ignored"), []);
    const odd = e.logs.find((r) => r.module === "flood" && r.msg === `{"toString":null}`);
    assert.equal(odd?.level, "info");
    assert.equal(odd?.cyclic, "[object Object]");
    const samples = await scrape(e.url);
    await waitAbove(e.url, "ticking_runs", samples.get("ticking_runs") ?? 0);
  });
});

/** A sandboxed module whose run hands back `count` samples, saying it hands back `declared`. */
const manySamples = (count: number, declared: number | string = "values.length", series = "many_series") =>
  `export const sandbox = {};
export const interval = "2s";
export function process() {
  const values = [];
  for (let i = 0; i < ${count}; i++) values.push({ value: i, labels: { i: String(i) } });
  const family = { name: "${series}", help: "h", type: "gauge", values };
  // As the Worker's own reply would be, with every sample in its first page.
  self.postMessage({ type: "result", id: 1, heapUsed: 0, samples: ${declared}, page: { parts: [{ at: 0, family }] } });
}
`;

/**
 * Runs `source` as module `name` beside a ticking module until `name`'s run fails; `check` gets
 * that failure's error and the exporter. Then the module serves nothing and is down, and the
 * ticking module has gone on.
 */
async function failingRun(
  name: string,
  source: string,
  check: (err: unknown, e: Exporter) => Promise<void> | void,
): Promise<void> {
  await withExporter({ [`${name}.ts`]: source, "ticking.ts": tickingModule("ticking_runs") }, async (e) => {
    const failed = await e.waitForLog((r) => r.msg === "module run failed" && r.module === name, 20_000);
    await check(failed.err, e);
    const samples = await scrape(e.url);
    assert.deepEqual([...samples.keys()].filter((k) => k.startsWith(`${name}_series`)), []);
    assert.equal(samples.get(up(name)), 0);
    await waitAbove(e.url, "ticking_runs", samples.get("ticking_runs") ?? 0);
  });
}

Deno.test("a sandboxed run handing back more samples than the bound fails; the exporter's memory stays put", async () => {
  await failingRun("many", manySamples(1_000_000), async (err, e) => {
    assert.equal(err, "its run handed back 1000000 samples, over the bound of 200000 for a sandboxed module");
    const timer = new ScrapeTimer(e.url);
    const samples = await timer.scrape();
    assert.ok(timer.slowestMs < 1500, `a scrape took ${timer.slowestMs.toFixed(0)} ms`);
    assert.ok(samples.get(RSS)! < 600e6, `RSS is ${(samples.get(RSS)! / 1e6).toFixed(0)} MB`);
  });
});

Deno.test("a sandboxed run that says it hands back fewer samples than it does fails at the bound", async () => {
  await failingRun("liar", manySamples(300_000, 10, "liar_series"), (err) => {
    assert.equal(err, "its run handed back more than 200000 samples, the bound for a sandboxed module");
  });
});

Deno.test("a sandboxed module whose Worker stops handing back pages fails that run at its timeout", async () => {
  // More than a page of series, and the Worker's message handler wrapped so that every request
  // for a next page goes unanswered (lib/modules/worker_host_test.ts checks the Worker is replaced).
  const stuck = `import { Gauge } from "prom-client";
export const sandbox = {};
export const timeout = "1s";
export const interval = "2s";
const g = new Gauge({ name: "stuck_series", help: "h", labelNames: ["i"] });
const handle = self.onmessage;
self.onmessage = (event) => { if (event.data?.type !== "page") handle(event); };
export function process() {
  for (let i = 0; i < 5000; i++) g.set({ i: String(i) }, i);
}
`;
  await failingRun("stuck", stuck, async (err, e) => {
    assert.match(String(err), /timed out/);
    // And it is run again, to fail the same way.
    await waitFor(
      () => e.logs.filter((r) => r.msg === "module run failed" && r.module === "stuck").length >= 2,
      { timeoutMs: 20_000, message: () => "the module did not run again after its run timed out" },
    );
  });
});

/** Module code that posts a run's result as the Worker would, in one page (lib/modules/family_pages.ts). */
const FORGED_RESULT = `const result = (id, families) => self.postMessage({
  type: "result", id, heapUsed: 0,
  samples: families.reduce((n, f) => n + f.values.length, 0),
  page: { parts: families.map((family, at) => ({ at, family })) },
});`;

Deno.test("forged Worker messages gain a module nothing it could not do with its own metrics", async () => {
  // Forged results naming another module's metric, sample names outside the family, an
  // invalid type, a forged exit: each is that module's failure only.
  const forge = `export const sandbox = {};
export const interval = "300ms";
${FORGED_RESULT}
export function process() {
  for (let id = 0; id < 100; id++) {
    result(id, [
      { name: "forge_ok", help: "h", type: "gauge", values: [{ value: 1 }] },
      { name: "forge_steal", help: "h", type: "gauge", values: [{ value: 5, metricName: "ticking_runs" }] },
      { name: "forge_type", help: "h", type: "weird", values: [{ value: 1 }] },
      { name: "forge_label", help: "h", type: "gauge", values: [{ value: 1, labels: { __name__: "ticking_runs" } }] },
    ]);
  }
}
`;
  const thief = `export const sandbox = {};
export const interval = "300ms";
${FORGED_RESULT}
export function process() {
  for (let id = 0; id < 100; id++) {
    result(id, [{ name: "ticking_runs", help: "h", type: "gauge", values: [{ value: 666 }] }]);
  }
}
`;
  const exiter = `export const sandbox = {};
export const interval = "300ms";
export function process() { self.postMessage({ type: "exit", code: 0 }); }
`;
  // The healthy module loads first (names sort), so its metric is taken when the others run.
  const files = {
    "a_ticking.ts": tickingModule("ticking_runs"),
    "forge.ts": forge,
    "thief.ts": thief,
    "exiter.ts": exiter,
  };
  await withExporter(files, async (e) => {
    const stolen = await e.waitForLog((r) => r.msg === "module run failed" && r.module === "thief");
    assert.equal(stolen.err, `metric "ticking_runs" is already registered by module "a_ticking"`);
    const exited = await e.waitForLog((r) => r.msg === "module run failed" && r.module === "exiter");
    assert.equal(exited.err, "the module ended its Worker with exit(0)");
    // Rendered (and refused) at the first scrape.
    await waitForSample(e.url, "forge_ok", 1);
    const render = await e.waitForLog((r) =>
      r.msg.startsWith("module metrics failed to render") && r.module === "forge"
    );
    assert.match(String(render.err), /forge_steal.*forge_type.*forge_label/s);
    const samples = await scrape(e.url);
    assert.notEqual(samples.get("ticking_runs"), 666);
    assert.equal(samples.has("forge_steal"), false);
    await waitAbove(e.url, "ticking_runs", samples.get("ticking_runs") ?? 0);
    await waitFor(async () => (await scrape(e.url)).get(up("thief")) === 0);
  });
});

/** Sends SIGHUP and waits until module `name` has loaded again (or failed to); returns that log line. */
async function reloadOnce(e: Exporter, name: string) {
  const seen = e.logs.length;
  e.process.kill("SIGHUP");
  let found: LogRecord | undefined;
  await waitFor(() =>
    (found = e.logs.slice(seen).find((r) =>
      r.module === name && (r.msg === "module reloaded" || r.msg === "module load failed")
    )) !== undefined
  );
  return found!;
}

Deno.test("reloading a sandboxed module while its runs come back never fails the new version's load", async () => {
  // The old version's run answered between the reload freeing its names and the new version
  // taking them: its placeholders took the names back and the new version failed to load.
  await withExporter(
    { "busy.ts": `export const sandbox = {};\n${tickingModule("busy_runs", "20ms")}` },
    async (e) => {
      await waitAbove(e.url, "busy_runs", 2);
      for (let i = 0; i < 15; i++) {
        const line = await reloadOnce(e, "busy");
        assert.equal(line.msg, "module reloaded", String(line.err));
      }
      await waitAbove(e.url, "busy_runs", 2);
    },
  );
});

Deno.test("a quarantined module stays quarantined across SIGHUP: one runaway thread, not one per reload", async () => {
  const spin = `export const sandbox = {};
export const timeout = "1s";
export async function process() { await Promise.resolve(); for (;;); }
`;
  await withExporter({ "spin.ts": spin, "ticking.ts": tickingModule("ticking_runs") }, async (e, dir) => {
    const quarantined = (r: LogRecord) =>
      r.msg.startsWith("sandboxed module quarantined") && r.module === "spin";
    await e.waitForLog(quarantined);
    const reload = await reloadOnce(e, "spin");
    assert.equal(reload.msg, "module load failed");
    assert.match(String(reload.err), /quarantined until its file changes/);
    await observationWindow(4000);
    assert.equal(e.logs.filter(quarantined).length, 1);
    await waitAbove(e.url, "ticking_runs", (await scrape(e.url)).get("ticking_runs") ?? 0);
    // A changed file is loaded afresh.
    await Deno.writeTextFile(`${dir}/spin.ts`, `export const sandbox = {};\n${tickingModule("spin_runs")}`);
    await waitAbove(e.url, "spin_runs", 1);
  }, { args: ["--collect.timeout=1s"] });
});
