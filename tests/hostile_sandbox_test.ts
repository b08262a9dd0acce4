/**
 * End to end, issues 9 and 21 attacked: sandboxed modules that try to confuse the static reader
 * of their declaration, flood the exporter through their host's log, forge frames on their
 * stdout, or reach files the loader must not read. Each runs next to a healthy module through
 * the real exporter.
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

Deno.test("a declaration after a regex or a nested template holding comment marks still runs the module in a host of its own", async () => {
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

Deno.test("a declaration after a regex holding a quote, or with an escaped name, still runs the module in a host of its own", async () => {
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

Deno.test("a sandbox re-exported from a local helper is read before the module runs: the module runs in a host of its own", async () => {
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

Deno.test("a sandboxed module flooding its log never stalls a scrape; a line over the frame bound is dropped, not its host", async () => {
  const flood = `export const sandbox = {};
export const interval = "1s";
export function process(ctx) {
  const cyclic = { n: 1n };
  cyclic.self = cyclic;
  ctx.log.info("x".repeat(20_000_000));
  for (let i = 0; i < 100_000; i++) ctx.log.info("flood line", { i });
  for (let i = 0; i < 10_000; i++) console.error("console flood", i);
  ctx.log.info("odd fields", { cyclic });
}
`;
  await withExporter({ "flood.ts": flood, "ticking.ts": tickingModule("ticking_runs") }, async (e) => {
    await e.waitForLog((r) => r.msg === "flood line" && r.module === "flood", 20_000);
    const timer = new ScrapeTimer(e.url);
    for (let i = 0; i < 10; i++) {
      await timer.scrape();
      await observationWindow(300);
    }
    assert.ok(timer.slowestMs < 1500, `a scrape took ${timer.slowestMs.toFixed(0)} ms`);
    const long = e.logs.find((r) => r.module === "flood" && r.msg.startsWith("xxx"));
    assert.ok(
      long === undefined || long.msg.length <= 4200,
      `a ${long?.msg.length}-character line was logged`,
    );
    assert.deepEqual(e.logs.filter((r) => r.msg === "module host ended"), []);
    const samples = await scrape(e.url);
    await waitAbove(e.url, "ticking_runs", samples.get("ticking_runs") ?? 0);
  });
});

/** Runs `source` as module `name` beside a ticking module until `name`'s run fails; `check` gets
 * that failure's error and the exporter. Then the module serves nothing and is down, and the
 * ticking module has gone on.
 */
async function failingRun(
  name: string,
  source: string,
  check: (err: unknown, e: Exporter) => Promise<void> | void,
): Promise<void> {
  await withExporter({ [`${name}.ts`]: source, "ticking.ts": tickingModule("ticking_runs") }, async (e) => {
    const failed = await e.waitForLog((r) => r.msg === "module run failed" && r.module === name, 40_000);
    await check(failed.err, e);
    const samples = await scrape(e.url);
    assert.deepEqual([...samples.keys()].filter((k) => k.startsWith(`${name}_series`)), []);
    assert.equal(samples.get(up(name)), 0);
    await waitAbove(e.url, "ticking_runs", samples.get("ticking_runs") ?? 0);
  });
}

Deno.test("a sandboxed run handing back more samples than the bound fails; the exporter's memory stays put", async () => {
  const many = `import { Gauge } from "prom-client";
export const sandbox = {};
export const interval = "30s";
export const timeout = "30s";
const g = new Gauge({ name: "many_series", help: "h", labelNames: ["i"] });
export function process() { for (let i = 0; i < 250_000; i++) g.set({ i: String(i) }, i); }
`;
  await failingRun("many", many, async (err, e) => {
    assert.equal(
      err,
      "its run handed back 250000 samples, over the bound of 200000 for a module in its host",
    );
    const timer = new ScrapeTimer(e.url);
    const samples = await timer.scrape();
    assert.ok(timer.slowestMs < 1500, `a scrape took ${timer.slowestMs.toFixed(0)} ms`);
    assert.ok(samples.get(RSS)! < 600e6, `RSS is ${(samples.get(RSS)! / 1e6).toFixed(0)} MB`);
  });
});

/** A frame of the host protocol (lib/host_protocol.ts), as module code would forge one. */
const FRAME = `const frame = (message) => {
  const body = new TextEncoder().encode(JSON.stringify(message));
  const out = new Uint8Array(4 + body.length);
  new DataView(out.buffer).setUint32(0, body.length);
  out.set(body, 4);
  return out;
};`;

Deno.test("frames a module forges on its stdout are its log lines: they gain it nothing and end no host", async () => {
  // The host's frames go to the real stdout; a module's Deno.stdout and console are its log.
  const forge = `import { Gauge } from "prom-client";
import nodeProcess from "node:process";
export const sandbox = {};
export const interval = "300ms";
const g = new Gauge({ name: "forge_ok", help: "h" });
${FRAME}
export function process() {
  for (let id = 0; id < 100; id++) {
    const result = {
      type: "result", id, samples: 1,
      page: { parts: [{ at: 0, family: { name: "ticking_runs", help: "h", type: "gauge", values: [{ value: 666 }] } }] },
    };
    Deno.stdout.writeSync(frame(result));
    nodeProcess.stdout.write(new TextDecoder().decode(frame(result)));
  }
  // Were it trusted, this pong would put the host over --modules.memory and have it killed.
  Deno.stdout.writeSync(frame({ type: "pong", id: 1, heapUsed: 0, rss: 1e12 }));
  g.set(1);
}
`;
  const files = { "a_ticking.ts": tickingModule("ticking_runs"), "forge.ts": forge };
  await withExporter(files, async (e) => {
    await waitForSample(e.url, "forge_ok", 1, 20_000);
    await observationWindow(1000);
    const samples = await scrape(e.url);
    assert.equal(samples.get(up("forge")), 1);
    assert.notEqual(samples.get("ticking_runs"), 666);
    assert.deepEqual(e.logs.filter((r) => r.msg === "module host ended"), []);
    assert.ok(e.logs.some((r) => r.module === "forge" && r.msg.includes('"type":"result"')));
    await waitAbove(e.url, "ticking_runs", samples.get("ticking_runs") ?? 0);
  }, { args: ["--modules.memory=200MB"] });
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

Deno.test("a quarantined module stays quarantined across SIGHUP: no new host per reload", async () => {
  const spin = `export const sandbox = {};
export const timeout = "1s";
export const interval = "300ms";
export async function process() { await Promise.resolve(); for (;;); }
`;
  await withExporter({ "spin.ts": spin, "ticking.ts": tickingModule("ticking_runs") }, async (e, dir) => {
    const quarantined = (r: LogRecord) => r.msg === "module quarantined" && r.module === "spin";
    await e.waitForLog(quarantined, 40_000);
    const reload = await reloadOnce(e, "spin");
    assert.equal(reload.msg, "module load failed");
    assert.match(String(reload.err), /quarantined until its file or a helper changes/);
    await observationWindow(4000);
    assert.equal(e.logs.filter(quarantined).length, 1);
    await waitAbove(e.url, "ticking_runs", (await scrape(e.url)).get("ticking_runs") ?? 0);
    // A changed file is loaded afresh.
    await Deno.writeTextFile(`${dir}/spin.ts`, `export const sandbox = {};\n${tickingModule("spin_runs")}`);
    await waitAbove(e.url, "spin_runs", 1, 10_000);
  }, { args: ["--collect.timeout=1s", "--modules.host-grace=1s", "--modules.heartbeat=200ms"] });
});
