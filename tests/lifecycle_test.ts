/** End to end: the real exporter, real files in a temp dir, real HTTP. */

import assert from "node:assert/strict";
import {
  gaugeModule,
  type LogRecord,
  scrape,
  startExporter,
  startTaskFlags,
  tempMetricsDir,
  waitFor,
  waitForSample,
  withExporter,
} from "./_server.ts";
import { errors, loadOk, reloads, up } from "./_samples.ts";

Deno.test("exporter serves every module of the dir once the first load is done", async () => {
  await withExporter({ "a.ts": gaugeModule("a_value", 1), "b.js": gaugeModule("b_value", 2) }, async (e) => {
    await waitFor(async () =>
      (await fetch(`${e.url}/-/ready`).then((r) => r.body?.cancel().then(() => r.status))) === 200
    );
    const samples = await waitForSample(e.url, "b_value", 2);
    assert.equal(samples.get("a_value"), 1);
    assert.equal(samples.get(up("a")), 1);
    assert.equal(samples.get('dynamic_exporter_modules{state="loaded"}'), 2);
    assert.equal(samples.get('dynamic_exporter_modules{state="failed"}'), 0);
  });
});

Deno.test("an added file is loaded and its metric appears", async () => {
  await withExporter({}, async (e, dir) => {
    await e.waitForLog((r) => r.msg === "metrics dir loaded; ready");
    await Deno.writeTextFile(`${dir}/added.ts`, gaugeModule("added_value", 7));
    await waitForSample(e.url, "added_value", 7, 5000);
  });
});

Deno.test("a changed file is reloaded: the old version's metrics go, the new ones appear", async () => {
  await withExporter({ "m.ts": gaugeModule("old_name", 1) }, async (e, dir) => {
    await waitForSample(e.url, "old_name", 1);
    await Deno.writeTextFile(`${dir}/m.ts`, gaugeModule("new_name", 2));
    const samples = await waitForSample(e.url, "new_name", 2, 5000);
    assert.equal(samples.has("old_name"), false);
    assert.equal(samples.get(reloads("m", "success")), 2);
  });
});

Deno.test("an editor's atomic save (temp file, rename) counts as a change", async () => {
  await withExporter({ "m.ts": gaugeModule("atomic_value", 1) }, async (e, dir) => {
    await waitForSample(e.url, "atomic_value", 1);
    await Deno.writeTextFile(`${dir}/.m.ts.swp`, gaugeModule("atomic_value", 2));
    await Deno.rename(`${dir}/.m.ts.swp`, `${dir}/m.ts`);
    await waitForSample(e.url, "atomic_value", 2, 5000);
  });
});

Deno.test("a save that leaves the content unchanged does not reload", async () => {
  const content = gaugeModule("same_value", 1);
  await withExporter({ "m.ts": content }, async (e, dir) => {
    await waitForSample(e.url, reloads("m", "success"), 1);
    await Deno.writeTextFile(`${dir}/m.ts`, content);
    // A marker file written after the save is loaded by the same or a later rescan.
    await Deno.writeTextFile(`${dir}/marker.ts`, gaugeModule("marker_value", 1));
    const samples = await waitForSample(e.url, "marker_value", 1, 5000);
    assert.equal(samples.get(reloads("m", "success")), 1);
  });
});

Deno.test("a deleted file is disposed and all its series disappear", async () => {
  const dispose = `export function dispose() { console.error("DISPOSED gone"); }`;
  await withExporter({
    "gone.ts": gaugeModule("gone_value", 3, dispose),
    "stay.ts": gaugeModule("stay_value", 4),
  }, async (e, dir) => {
    await waitForSample(e.url, "gone_value", 3);
    await Deno.remove(`${dir}/gone.ts`);
    const samples = await waitForSample(e.url, "gone_value", undefined, 5000);
    assert.deepEqual([...samples.keys()].filter((k) => k.includes("gone")), []);
    assert.equal(samples.get("stay_value"), 4);
    await waitFor(() => e.logs.some((r) => r.msg === "DISPOSED gone" && r.module === "gone"));
  });
});

Deno.test("a syntax error keeps the old version serving, logged with file and line, until fixed", async () => {
  await withExporter({ "m.ts": gaugeModule("syntax_value", 1) }, async (e, dir) => {
    await waitForSample(e.url, "syntax_value", 1);
    await Deno.writeTextFile(
      `${dir}/m.ts`,
      `import { Gauge } from "prom-client";\nexport function process() {\n  const x = ;\n}\n`,
    );
    const samples = await waitForSample(e.url, loadOk("m"), 0, 5000);
    assert.equal(samples.get("syntax_value"), 1);
    assert.equal(samples.get(reloads("m", "failure")), 1);
    const failure = await e.waitForLog((r) => r.msg === "module load failed");
    assert.equal(failure.file, `${dir}/m.ts`);
    assert.equal(failure.line, 3);
    assert.match(String(failure.err), /SyntaxError/);
    await Deno.writeTextFile(`${dir}/m.ts`, gaugeModule("syntax_value", 5));
    const fixed = await waitForSample(e.url, "syntax_value", 5, 5000);
    assert.equal(fixed.get(loadOk("m")), 1);
  });
});

Deno.test("a module that throws at import fails to load; the others serve", async () => {
  await withExporter({
    "bad.ts": `\nthrow new Error("no config");\nexport function process() {}\n`,
    "ok.ts": gaugeModule("ok_value", 1),
  }, async (e) => {
    const samples = await waitForSample(e.url, "ok_value", 1);
    assert.equal(samples.get(loadOk("bad")), 0);
    assert.equal(samples.get(up("bad")), 0);
    assert.equal(samples.get('dynamic_exporter_modules{state="failed"}'), 1);
    const failure = await e.waitForLog((r) => r.msg === "module load failed" && r.module === "bad");
    assert.equal(failure.err, "no config");
    assert.equal(failure.line, 2);
  });
});

Deno.test("a module without a process export fails to load with a message saying so", async () => {
  await withExporter({ "noproc.ts": `export const x = 1;\n` }, async (e) => {
    const failure = await e.waitForLog((r) => r.msg === "module load failed");
    assert.equal(
      failure.err,
      "it exports no process() function: add export function process(ctx) to collect metrics, or export function probe(target, ctx) to answer /probe",
    );
  });
});

Deno.test("a process() that throws sets module_up 0 and counts an error; other modules are unaffected", async () => {
  const throwing = `import { Gauge } from "prom-client";
const g = new Gauge({ name: "thrower_value", help: "h" });
let n = 0;
export const interval = "100ms";
export function process() { n++; if (n > 1) throw new Error("upstream down"); g.set(9); }
`;
  await withExporter({ "thrower.ts": throwing, "fine.ts": gaugeModule("fine_value", 1) }, async (e) => {
    await waitFor(async () => (await scrape(e.url)).get(errors("thrower", "error"))! >= 1);
    const samples = await scrape(e.url);
    assert.equal(samples.get(up("thrower")), 0);
    assert.equal(samples.get("thrower_value"), 9, "metrics keep their last values");
    assert.equal(samples.get(up("fine")), 1);
    assert.equal(samples.get("fine_value"), 1);
    const failure = await e.waitForLog((r) => r.msg === "module run failed");
    assert.equal(failure.err, "upstream down");
    assert.equal(failure.line, 5);
  });
});

Deno.test("a process() that never resolves times out, then its ticks are overruns", async () => {
  const hanging = `export const interval = "100ms";
export const timeout = "150ms";
export function process() { return new Promise(() => {}); }
`;
  await withExporter({ "hang.ts": hanging, "fine.ts": gaugeModule("fine_value", 1) }, async (e) => {
    await waitForSample(e.url, errors("hang", "timeout"), 1);
    await waitFor(async () =>
      (await scrape(e.url)).get(`dynamic_exporter_module_overruns_total{module="hang"}`)! >= 2
    );
    const samples = await scrape(e.url);
    assert.equal(samples.get(up("hang")), 0);
    assert.equal(samples.get(errors("hang", "timeout")), 1, "an abandoned call is not started again");
    assert.equal(samples.get("fine_value"), 1);
  });
});

Deno.test("a process() stuck in a synchronous loop is interrupted at its timeout", async () => {
  const loop = `export const timeout = "200ms";
export function process() { while (true) {} }
`;
  await withExporter({ "loop.ts": loop, "fine.ts": gaugeModule("fine_value", 1) }, async (e) => {
    const samples = await waitForSample(e.url, errors("loop", "timeout"), 1);
    assert.equal(samples.get(up("loop")), 0);
    assert.equal(samples.get("fine_value"), 1);
  });
});

Deno.test("two modules claiming one metric name: the second fails with a message naming both", async () => {
  await withExporter({
    "first.ts": gaugeModule("shared_name", 1),
    "second.ts": gaugeModule("shared_name", 2),
  }, async (e) => {
    await waitForSample(e.url, loadOk("second"), 0);
    // The first module's run may end after the second's load failed: its value then shows.
    await waitForSample(e.url, "shared_name", 1);
    const failure = await e.waitForLog((r) => r.msg === "module load failed");
    assert.equal(failure.err, `metric "shared_name" is already registered by module "first"`);
  });
});

Deno.test("a module may not register the reserved dynamic_exporter_ prefix", async () => {
  await withExporter({ "sneaky.ts": gaugeModule("dynamic_exporter_fake", 1) }, async (e) => {
    const failure = await e.waitForLog((r) => r.msg === "module load failed");
    assert.equal(failure.err, `metric "dynamic_exporter_fake" uses the reserved prefix "dynamic_exporter_"`);
    const samples = await scrape(e.url);
    assert.equal(samples.has("dynamic_exporter_fake"), false);
  });
});

Deno.test(`"npm:prom-client@15" resolves to the prom-client instance the exporter serves`, async () => {
  const module = `import { Counter } from "npm:prom-client@15";
const c = new Counter({ name: "npm_spec_total", help: "h" });
export function process() { c.inc(); }
`;
  await withExporter({ "npm_spec.ts": module }, async (e) => {
    await waitFor(async () => (await scrape(e.url)).get("npm_spec_total")! >= 1);
  });
});

Deno.test("a module may import a helper from a subdirectory, which is not loaded as a module", async () => {
  const module = `import { Gauge } from "prom-client";
import { answer } from "./lib/helper.ts";
const g = new Gauge({ name: "helped_value", help: "h" });
export function process() { g.set(answer()); }
`;
  await withExporter({
    "helped.ts": module,
    "lib/helper.ts": `export function answer() { return 41 + 1; }\nexport function process() {}\n`,
  }, async (e) => {
    const samples = await waitForSample(e.url, "helped_value", 42);
    assert.equal(samples.get('dynamic_exporter_modules{state="loaded"}'), 1);
  });
});

Deno.test("dotfiles, _private files, editor droppings and other extensions are not modules", async () => {
  const files: Record<string, string> = {};
  for (
    const name of [
      ".hidden.ts",
      "_private.ts",
      "backup.ts~",
      "m.ts.swp",
      "m.tmp",
      "#m.ts#",
      "notes.md",
      "data.json",
    ]
  ) {
    files[name] = gaugeModule("ignored_value", 1);
  }
  await withExporter({ ...files, "real.mts": gaugeModule("real_value", 1) }, async (e) => {
    const samples = await waitForSample(e.url, "real_value", 1);
    assert.equal(samples.has("ignored_value"), false);
    assert.equal(samples.get('dynamic_exporter_modules{state="loaded"}'), 1);
    assert.equal(samples.get('dynamic_exporter_modules{state="failed"}'), 0);
  });
});

Deno.test("the metrics dir deleted keeps modules serving; re-created, it is picked up again", async () => {
  await withExporter({ "m.ts": gaugeModule("dir_value", 1) }, async (e, dir) => {
    await waitForSample(e.url, "dir_value", 1);
    await Deno.remove(dir, { recursive: true });
    await e.waitForLog((r) => r.msg === "metrics dir is gone; serving the modules loaded so far");
    assert.equal((await scrape(e.url)).get("dir_value"), 1);
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/m.ts`, gaugeModule("dir_value", 2));
    await waitForSample(e.url, "dir_value", 2, 5000);
    // The watch is armed again: a later change arrives too.
    await Deno.writeTextFile(`${dir}/n.ts`, gaugeModule("dir_later", 3));
    await waitForSample(e.url, "dir_later", 3, 5000);
  });
});

Deno.test("SIGHUP reloads every module", async () => {
  await withExporter({ "a.ts": gaugeModule("a_value", 1), "b.ts": gaugeModule("b_value", 1) }, async (e) => {
    await waitForSample(e.url, reloads("b", "success"), 1);
    e.process.kill("SIGHUP");
    const samples = await waitForSample(e.url, reloads("b", "success"), 2);
    assert.equal(samples.get(reloads("a", "success")), 2);
    assert.equal(samples.get("a_value"), 1);
  });
});

Deno.test("SIGTERM disposes every module and exits 0", async () => {
  const dir = await tempMetricsDir({
    "a.ts": gaugeModule("a_value", 1, `export function dispose() { console.error("DISPOSED a"); }`),
    "b.ts": gaugeModule(
      "b_value",
      1,
      `export async function dispose() { await 0; console.error("DISPOSED b"); }`,
    ),
  });
  const e = await startExporter({ metricsDir: dir });
  try {
    await waitForSample(e.url, "b_value", 1);
    assert.equal(await e.stop("SIGTERM"), 0);
    assert.deepEqual(
      e.logs.filter((r) => String(r.msg).startsWith("DISPOSED")).map((r) => `${r.module}: ${r.msg}`).sort(),
      ["a: DISPOSED a", "b: DISPOSED b"],
    );
    assert.ok(e.logs.some((r) => r.msg === "stopped"));
  } finally {
    await e.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a module hitting a permission it lacks is logged with the flag that would grant it", async () => {
  const module = `export async function process() { await new Deno.Command("true").output(); }\n`;
  await withExporter({ "needs_run.ts": module }, async (e) => {
    const failure = await e.waitForLog((r) => r.msg === "module run failed");
    assert.match(String(failure.err), /Requires run access/);
    assert.equal(
      failure.hint,
      "modules may not have it: start the exporter with --modules.allow-run=true (or the broader flag)",
    );
  });
});

Deno.test("a scrape-time module runs at every scrape", async () => {
  const module = `import { Counter } from "prom-client";
const c = new Counter({ name: "scrape_runs_total", help: "h" });
export const interval = "0";
export function process() { c.inc(); }
`;
  await withExporter({ "at_scrape.ts": module }, async (e) => {
    await e.waitForLog((r) => r.msg === "metrics dir loaded; ready");
    assert.equal((await scrape(e.url)).get("scrape_runs_total"), 1);
    assert.equal((await scrape(e.url)).get("scrape_runs_total"), 2);
  });
});

Deno.test("a scrape waits for a slow scrape-time module no longer than X-Prometheus-Scrape-Timeout-Seconds allows", async () => {
  const module = `export const interval = "0";
export const timeout = "20s";
export function process(ctx) { return new Promise((r) => { const t = setTimeout(r, 10000); ctx.signal.addEventListener("abort", () => { clearTimeout(t); r(); }); }); }
`;
  await withExporter({ "slow.ts": module }, async (e) => {
    await e.waitForLog((r) => r.msg === "metrics dir loaded; ready");
    const start = performance.now();
    const response = await fetch(`${e.url}/metrics`, {
      headers: { "X-Prometheus-Scrape-Timeout-Seconds": "1" },
    });
    await response.text();
    const elapsed = performance.now() - start;
    assert.equal(response.status, 200);
    assert.ok(elapsed >= 400 && elapsed < 3000, `scrape took ${elapsed}ms, want about 500ms`);
  });
});

Deno.test("bad flags and a missing metrics dir exit 2 with one line naming the problem", async () => {
  const dir = await tempMetricsDir();
  try {
    await Deno.writeTextFile(`${dir}/file.ts`, "");
    const cases: [string[], string][] = [
      [
        ["--collect.interval=10x"],
        `dynamic_exporter: --collect.interval: invalid duration "10x": use a number and a unit, like 500ms, 10s, 1m or 1h30m`,
      ],
      [["--log.level=loud"], `dynamic_exporter: --log.level: "loud" is not one of debug, info, warn, error`],
      [["--no.such-flag"], `dynamic_exporter: unknown flag --no.such-flag; see --help`],
      [
        ["--web.listen-address=8000"],
        `dynamic_exporter: --web.listen-address: "8000" must be host:port, :port or [ipv6]:port`,
      ],
      [[`--metrics.dir=${dir}/missing`], `dynamic_exporter: --metrics.dir: "${dir}/missing" does not exist`],
      [
        [`--metrics.dir=${dir}/file.ts`],
        `dynamic_exporter: --metrics.dir: "${dir}/file.ts" is not a directory`,
      ],
    ];
    for (const [args, line] of cases) {
      const { code, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["run", ...await startTaskFlags(), "main.ts", ...args],
        env: { NO_COLOR: "1" },
        stdout: "null",
        stderr: "piped",
      }).output();
      assert.deepEqual(
        { code, stderr: new TextDecoder().decode(stderr) },
        { code: 2, stderr: line + "\n" },
        args.join(" "),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("OpenMetrics and gzip are served when the client asks", async () => {
  const module = `import { Counter } from "prom-client";
const c = new Counter({ name: "om_requests_total", help: "h" });
export function process() { c.inc(3); }
`;
  await withExporter({ "om.ts": module }, async (e) => {
    await waitForSample(e.url, "om_requests_total", 3);
    const response = await fetch(`${e.url}/metrics`, {
      headers: { accept: "application/openmetrics-text; version=1.0.0", "accept-encoding": "gzip" },
    });
    assert.equal(
      response.headers.get("content-type"),
      "application/openmetrics-text; version=1.0.0; charset=utf-8",
    );
    assert.equal(response.headers.get("content-encoding"), "gzip");
    const body = await response.text(); // fetch decompresses
    assert.match(body, /^# HELP om_requests h\n# TYPE om_requests counter\nom_requests_total 3\n/m);
    assert.ok(body.endsWith("\n# EOF\n"));
  });
});

Deno.test("POST /-/reload reloads every module with --web.enable-lifecycle", async () => {
  await withExporter({ "a.ts": gaugeModule("a_value", 1) }, async (e) => {
    await waitForSample(e.url, reloads("a", "success"), 1);
    const response = await fetch(`${e.url}/-/reload`, { method: "POST" });
    assert.deepEqual([response.status, await response.text()], [200, "Reloaded.\n"]);
    assert.equal((await scrape(e.url)).get(reloads("a", "success")), 2);
  }, { args: ["--web.enable-lifecycle"] });
});

Deno.test("the landing page links the telemetry path and shows each module with its last error", async () => {
  const failing = `export function process() { throw new Error("upstream <down>"); }\n`;
  await withExporter({ "ok.ts": gaugeModule("ok_value", 1), "failing.ts": failing }, async (e) => {
    await waitForSample(e.url, errors("failing", "error"), 1);
    await waitForSample(e.url, up("ok"), 1);
    const response = await fetch(`${e.url}/`);
    assert.equal(response.headers.get("content-type"), "text/html; charset=utf-8");
    const html = await response.text();
    assert.match(html, /<a href="\/metrics">\/metrics<\/a>/);
    assert.match(html, /<tr class="up"><td><a href="module\?name=ok">ok<\/a><\/td><td>up<\/td>/);
    assert.match(
      html,
      /<tr class="down"><td><a href="module\?name=failing">failing<\/a><\/td><td>down<\/td>.*run: upstream &#60;down&#62; <code>[^<]*failing\.ts:1<\/code>/,
    );
  });
});

Deno.test("a client that does not accept gzip gets the plain text format", async () => {
  await withExporter({ "a.ts": gaugeModule("plain_value", 1) }, async (e) => {
    await waitForSample(e.url, "plain_value", 1);
    // Deno's fetch asks for gzip unless told otherwise.
    const response = await fetch(`${e.url}/metrics`, { headers: { "accept-encoding": "identity" } });
    assert.equal(response.headers.get("content-encoding"), null);
    assert.equal(response.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    assert.match(
      await response.text(),
      /^# HELP plain_value test gauge plain_value\n# TYPE plain_value gauge\nplain_value 1\n/,
    );
  });
});

Deno.test("errors module code throws from its own timers or leaves unhandled do not stop the exporter", async () => {
  const module = `export function process() {
  setTimeout(() => { throw new Error("late throw"); }, 1);
  Promise.reject(new Error("nobody catches"));
}
`;
  await withExporter({ "wild.ts": module, "fine.ts": gaugeModule("fine_value", 1) }, async (e) => {
    // Both reach the server from the module's host as one kind of message, named by module.
    const uncaught = (r: LogRecord) => r.msg === "module: uncaught error, ignored" && r.module === "wild";
    await waitFor(() => e.logs.filter(uncaught).length >= 2);
    assert.deepEqual(e.logs.filter(uncaught).map((r) => r.err).sort(), ["late throw", "nobody catches"]);
    assert.equal((await scrape(e.url)).get("fine_value"), 1);
  });
});

Deno.test("a module whose top-level await never settles fails to load without blocking the others", async () => {
  await withExporter({
    "a_stuck.ts": `await new Promise(() => {});\nexport function process() {}\n`,
    "b.ts": gaugeModule("b_value", 1),
  }, async (e) => {
    const failure = await e.waitForLog((r) => r.msg === "module load failed");
    assert.equal(failure.err, "import did not finish within 1s (a top-level await?)");
    await waitForSample(e.url, "b_value", 1);
  }, { args: ["--collect.timeout=1s"] });
});

Deno.test("the periodic rescan retries a module that failed to load, once what it imports is there", async () => {
  const module = `import { Gauge } from "prom-client";
import { value } from "./lib/later.ts";
const g = new Gauge({ name: "later_value", help: "h" });
export function process() { g.set(value); }
`;
  await withExporter({ "needs_helper.ts": module }, async (e, dir) => {
    await e.waitForLog((r) => r.msg === "module load failed");
    // A subdirectory is not watched: only the periodic rescan can notice the helper.
    await Deno.mkdir(`${dir}/lib`);
    await Deno.writeTextFile(`${dir}/lib/later.ts`, "export const value = 8;\n");
    const samples = await waitForSample(e.url, "later_value", 8, 5000);
    assert.equal(samples.get(loadOk("needs_helper")), 1);
  }, { args: ["--metrics.rescan-interval=300ms"] });
});

Deno.test("--web.listen-address=[::1]:0 serves on IPv6 loopback", async () => {
  let ipv6 = true;
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
  } catch {
    ipv6 = false;
  }
  if (!ipv6) {
    console.warn("skipped: this machine has no IPv6 loopback");
    return;
  }
  const dir = await tempMetricsDir({ "a.ts": gaugeModule("v6_value", 6) });
  const e = await startExporter({ metricsDir: dir, args: ["--web.listen-address=[::1]:0"] });
  try {
    assert.match(e.url, /^http:\/\/\[::1\]:\d+$/);
    await waitForSample(e.url, "v6_value", 6);
  } finally {
    await e.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a file moved or copied into the dir is loaded", async () => {
  const outside = await tempMetricsDir({
    "moved.ts": gaugeModule("moved_value", 1),
    "copied.ts": gaugeModule("copied_value", 2),
  });
  try {
    await withExporter({}, async (e, dir) => {
      await e.waitForLog((r) => r.msg === "metrics dir loaded; ready");
      await Deno.rename(`${outside}/moved.ts`, `${dir}/moved.ts`);
      await Deno.copyFile(`${outside}/copied.ts`, `${dir}/copied.ts`);
      await waitForSample(e.url, "moved_value", 1, 5000);
      await waitForSample(e.url, "copied_value", 2, 5000);
    });
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("a burst of thousands of file events ends with the final content loaded", async () => {
  await withExporter({ "burst.ts": gaugeModule("burst_value", 0) }, async (e, dir) => {
    await waitForSample(e.url, "burst_value", 0);
    // Enough events to overflow the watcher's queue into a single rescan event.
    for (let i = 1; i <= 2000; i++) Deno.writeTextFileSync(`${dir}/scratch.tmp`, String(i));
    Deno.writeTextFileSync(`${dir}/burst.ts`, gaugeModule("burst_value", 2000));
    await waitForSample(e.url, "burst_value", 2000, 5000);
  });
});

Deno.test("SIGTERM lets an in-flight scrape finish before exiting 0", async () => {
  const module = `import { Gauge } from "prom-client";
const g = new Gauge({ name: "slow_scrape_value", help: "h" });
export const interval = "0";
export async function process(ctx) {
  ctx.log.info("scrape-time run started");
  await new Promise((r) => setTimeout(r, 500));
  g.set(5);
}
`;
  const dir = await tempMetricsDir({ "slow.ts": module });
  const e = await startExporter({ metricsDir: dir });
  try {
    await e.waitForLog((r) => r.msg === "metrics dir loaded; ready");
    const scraping = fetch(`${e.url}/metrics`).then(async (r) => [r.status, await r.text()] as const);
    await e.waitForLog((r) => r.msg === "scrape-time run started");
    const exited = e.stop("SIGTERM");
    const [status, body] = await scraping;
    assert.equal(status, 200);
    assert.match(body, /^slow_scrape_value 5$/m);
    assert.equal(await exited, 0);
  } finally {
    await e.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SIGTERM waits for a process() in flight before calling dispose()", async () => {
  const module = `let running = false;
export async function process(ctx) {
  running = true;
  ctx.log.info("run started");
  await new Promise((r) => setTimeout(r, 300));
  running = false;
}
export function dispose() { console.error("DISPOSED while running=" + running); }
`;
  const dir = await tempMetricsDir({ "busy.ts": module });
  const e = await startExporter({ metricsDir: dir });
  try {
    await e.waitForLog((r) => r.msg === "run started");
    assert.equal(await e.stop("SIGTERM"), 0);
    assert.deepEqual(
      e.logs.filter((r) => String(r.msg).startsWith("DISPOSED")).map((r) => `${r.module}: ${r.msg}`),
      ["busy: DISPOSED while running=false"],
    );
  } finally {
    await e.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("each loaded module's interval is a self-metric: its own, the default, or 0 at scrape time", async () => {
  await withExporter({
    "own.ts": gaugeModule("own_value", 1, 'export const interval = "1m";'),
    "default.ts": gaugeModule("default_value", 2),
    "scrape_time.ts": gaugeModule("scrape_time_value", 3, 'export const interval = "0";'),
    "broken.ts": "export function process( {\n",
  }, async (e) => {
    // Modules load one by one: wait for all three rather than for the first to run.
    let intervals: [string, number][] = [];
    await waitFor(async () => {
      const samples = await scrape(e.url);
      intervals = [...samples].filter(([name]) =>
        name.startsWith("dynamic_exporter_module_interval_seconds")
      );
      return intervals.length === 3;
    }, { message: () => JSON.stringify(intervals) });
    assert.deepEqual(intervals.sort(), [
      ['dynamic_exporter_module_interval_seconds{module="default"}', 10],
      ['dynamic_exporter_module_interval_seconds{module="own"}', 60],
      ['dynamic_exporter_module_interval_seconds{module="scrape_time"}', 0],
    ]);
  });
});
