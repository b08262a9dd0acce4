/**
 * End to end, issue 8: module code that tries to end, wedge or outlive the exporter, and a run
 * that must never write into the checkout. Each case runs the real exporter next to a healthy
 * module, and checks that the exporter still loads a new file and unloads a deleted one.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  type Exporter,
  gaugeModule,
  scrape,
  tickingModule,
  waitAbove,
  waitFor,
  waitForSample,
  withExporter,
} from "./_server.ts";
import { errors, loadOk } from "./_samples.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The exporter still follows its dir: a new file loads, a deleted one's series go. */
async function assertDirStillFollowed(e: Exporter, dir: string, deleted: string, sample: string) {
  await Deno.writeTextFile(`${dir}/added_later.ts`, gaugeModule("added_later_value", 5));
  await waitForSample(e.url, "added_later_value", 5, 10_000);
  await Deno.remove(`${dir}/${deleted}`);
  await waitForSample(e.url, sample, undefined, 10_000);
}

/**
 * Sends `signal` (null: only waits) and waits up to `ms` for the exit; past that, SIGKILLs and
 * returns no code.
 */
async function exitWithin(
  e: Exporter,
  ms: number,
  // null, not undefined: an undefined argument takes the default and sends SIGTERM.
  signal: Deno.Signal | null = "SIGTERM",
): Promise<{ code?: number; seconds: number }> {
  const start = performance.now();
  if (signal) e.process.kill(signal);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), ms));
  const code = await Promise.race([e.process.status.then((s) => s.code), late]);
  clearTimeout(timer);
  const seconds = (performance.now() - start) / 1000;
  await e.stop("SIGKILL");
  return { code, seconds };
}

// Item 3: node:vm's watchdog that fires while V8 is inside native code (a huge fill,
// JSON.parse of a big string) used to be delivered after the call returned, unwinding the
// exporter's own code: the module never ran again and the dir sync was dead for good.
Deno.test("a timeout that lands in native code unwinds only the module's call", async () => {
  const fill = `export const timeout = "10ms";
export const interval = "1s";
export function process() { new Uint8Array(128 * 1024 ** 2).fill(1); }
`;
  const json = `const text = JSON.stringify(Array.from({ length: 400_000 }, (_, i) => ({ i, s: "x" + i })));
export const timeout = "10ms";
export const interval = "1s";
export function process() { JSON.parse(text); }
`;
  await withExporter(
    { "fill.ts": fill, "json.ts": json, "healthy.ts": tickingModule("healthy_runs") },
    async (e, dir) => {
      // Each hostile module times out more than once: it is run again after its timeout. A
      // native call that outlasts the timeout by the host grace holds the shared host, which is
      // killed and the module moved to a host of its own: give that time on a loaded machine.
      await waitAbove(e.url, errors("fill", "timeout"), 1, 40_000);
      await waitAbove(e.url, errors("json", "timeout"), 1, 40_000);
      const runs = (await scrape(e.url)).get("healthy_runs") ?? 0;
      await waitAbove(e.url, "healthy_runs", runs + 3, 20_000);
      const ready = await fetch(`${e.url}/-/ready`);
      await ready.body?.cancel();
      assert.equal(ready.status, 200);
      await assertDirStillFollowed(e, dir, "healthy.ts", "healthy_runs");
      const { code } = await exitWithin(e, 15_000);
      assert.equal(code, 0);
    },
    { args: ["--modules.host-grace=1s", "--modules.heartbeat=200ms"] },
  );
});

// Item 7: Deno.exit() or process.exit() from a module ended the exporter silently, and
// process.exit() exits 0, so systemd's Restart=on-failure did not even restart it.
Deno.test("a module calling Deno.exit(), process.exit() or killing the exporter gets an error; the exporter keeps running", async () => {
  const calls: Record<string, string> = {
    deno_exit: `export function process() { Deno.exit(1); }`,
    node_exit: `import nodeProcess from "node:process";
export function process() { nodeProcess.exit(); }`,
    named_exit: `import { exit } from "node:process";
export function process() { exit(7); }`,
    global_exit: `export function process() { (globalThis as any).process?.exit(); }`,
    really_exit: `export function process() { (globalThis as any).process.reallyExit(0); }`,
    self_kill: `export function process() { Deno.kill(Deno.pid, "SIGKILL"); }`,
  };
  const files: Record<string, string> = {
    "exit_at_import.ts": `Deno.exit(1);\nexport function process() {}\n`,
    "healthy.ts": tickingModule("healthy_runs"),
  };
  for (const [name, body] of Object.entries(calls)) {
    files[`${name}.ts`] = `${body}\nexport const interval = "1s";\n`;
  }
  await withExporter(files, async (e, dir) => {
    const failure = await e.waitForLog((r) =>
      r.msg === "module load failed" && r.module === "exit_at_import"
    );
    assert.equal(failure.err, "Deno.exit() is not allowed in a module; the exporter keeps running");
    for (const name of Object.keys(calls)) {
      await waitAbove(e.url, errors(name, "error"), 0);
      const run = await e.waitForLog((r) => r.msg === "module run failed" && r.module === name);
      const api = name === "self_kill"
        ? "Deno.kill()"
        : name === "deno_exit"
        ? "Deno.exit()"
        : "process.exit()";
      assert.match(
        String(run.err),
        new RegExp(`^${api.replace(/[.()]/g, "\\$&")} .*not allowed in a module`),
      );
    }
    const samples = await scrape(e.url);
    assert.equal(samples.get(loadOk("exit_at_import")), 0);
    const runs = samples.get("healthy_runs") ?? 0;
    await waitAbove(e.url, "healthy_runs", runs + 3);
    await assertDirStillFollowed(e, dir, "healthy.ts", "healthy_runs");
    // The exporter's own exit is intact, with its own code (named_exit's exit(7) set no code).
    const { code } = await exitWithin(e, 15_000);
    assert.equal(code, 0);
  });
});

// Item 7: a module that ran the heap out of memory ended the exporter. Module code now runs in a
// host process (issue 21): the host dies, is reported, and the exporter keeps serving.
Deno.test("a module that runs its host's heap out of memory ends its host, not the exporter", async () => {
  const hog = `export const timeout = "60s";
const keep: unknown[] = [];
export function process() { for (;;) keep.push({ n: keep.length, s: "x".repeat(16) + keep.length }); }
`;
  await withExporter({ "hog.ts": hog, "healthy.ts": tickingModule("healthy_runs") }, async (e, dir) => {
    const death = await e.waitForLog(
      (r) => r.msg === "module host ended" && /memory/.test(String(r.reason)),
      60_000,
    );
    assert.match(String(death.reason), /ran out of memory|over its budget/);
    assert.equal(death.suspects, "hog");
    const runs = (await scrape(e.url)).get("healthy_runs") ?? 0;
    await waitAbove(e.url, "healthy_runs", runs + 3);
    await assertDirStillFollowed(e, dir, "healthy.ts", "healthy_runs");
    const { code } = await exitWithin(e, 15_000);
    assert.equal(code, 0);
  }, { args: ["--modules.memory=96MiB"] });
});

// Item 16: a module importing `npm:lodash@4` downloaded it at run time and rewrote deno.lock.
Deno.test("a module importing a package that is not installed fails to load; nothing is downloaded or written", async () => {
  const lock = await Deno.readFile(`${ROOT}deno.lock`);
  const before = await Array.fromAsync(Deno.readDir(ROOT), (entry) => entry.name);
  // is-number is tiny (one file), in no lockfile of this project, and real: on a run that
  // may download, the import succeeds and deno.lock changes.
  const importer = `import isNumber from "npm:is-number@7";
export function process() { isNumber(1); }
`;
  await withExporter({ "importer.ts": importer, "healthy.ts": tickingModule("healthy_runs") }, async (e) => {
    const failure = await e.waitForLog(
      (r) => r.msg === "module load failed" && r.module === "importer",
      20_000,
    );
    // Deno names the package from the lockfile when it knows the package, from the cache when not.
    assert.match(
      String(failure.err),
      /^cannot import ("npm:is-number@7"|npm package "is-number"): the exporter does not download packages at run time$/,
    );
    assert.match(String(failure.hint), /deno\.json/);
    assert.equal((await scrape(e.url)).get(loadOk("importer")), 0);
    await waitAbove(e.url, "healthy_runs", 0);
  });
  assert.deepEqual(await Deno.readFile(`${ROOT}deno.lock`), lock);
  assert.deepEqual(await Array.fromAsync(Deno.readDir(ROOT), (entry) => entry.name), before);
});

// Item 17: SIGTERM waited for every slow top-level await of the first load, and for each
// hanging dispose() in turn, past systemd's TimeoutStopSec.
Deno.test("SIGTERM during a first load held by top-level awaits exits at the shutdown timeout, naming the load", async () => {
  const slow = `console.error("slow import started");
await new Promise((resolve) => setTimeout(resolve, 60_000));
export function process() {}
`;
  await withExporter(
    { "slow_a.ts": slow, "slow_b.ts": slow, "slow_c.ts": slow },
    async (e) => {
      // A SIGTERM before the first load has begun is a clean stop: wait until a load hangs.
      await waitFor(() =>
        e.logs.some((r) => r.msg === "slow import started" && /^slow_[abc]$/.test(String(r.module)))
      );
      const { code, seconds } = await exitWithin(e, 12_000);
      assert.equal(code, 3);
      assert.ok(seconds < 8, `exit took ${seconds} s`);
      const abandoned = e.logs.find((r) => r.msg === "shutdown timed out; abandoning what is pending");
      assert.match(String(abandoned?.pending), /load of "slow_a"/);
    },
    { args: ["--shutdown.timeout=1s"] },
  );
});

Deno.test("SIGTERM abandons dispose() calls still pending at the shutdown timeout, naming their modules", async () => {
  const hanging = (name: string) =>
    gaugeModule(
      `${name}_value`,
      1,
      `export const timeout = "60s";\nexport function dispose() { return new Promise(() => {}); }`,
    );
  await withExporter(
    {
      "hang_a.ts": hanging("hang_a"),
      "hang_b.ts": hanging("hang_b"),
      "quick.ts": gaugeModule("quick_value", 1),
    },
    async (e) => {
      await waitForSample(e.url, "hang_b_value", 1);
      await waitForSample(e.url, "quick_value", 1);
      const { code, seconds } = await exitWithin(e, 12_000);
      assert.equal(code, 3);
      assert.ok(seconds < 8, `exit took ${seconds} s`);
      const abandoned = e.logs.find((r) => r.msg === "shutdown timed out; abandoning what is pending");
      assert.equal(abandoned?.pending, `dispose() of "hang_a", dispose() of "hang_b"`);
    },
    { args: ["--shutdown.timeout=1s"] },
  );
});

Deno.test("SIGTERM runs every dispose() concurrently under the shutdown timeout", async () => {
  // Four dispose() calls of 1.5 s each: 6 s one after another, 1.5 s together.
  const slowDispose = (name: string) =>
    gaugeModule(
      `${name}_value`,
      1,
      `export const timeout = "60s";
export function dispose() {
  return new Promise((resolve) => setTimeout(() => { console.error("DISPOSED ${name}"); resolve(undefined); }, 1500));
}`,
    );
  const names = ["d1", "d2", "d3", "d4"];
  await withExporter(
    Object.fromEntries(names.map((n) => [`${n}.ts`, slowDispose(n)])),
    async (e) => {
      for (const n of names) await waitForSample(e.url, `${n}_value`, 1);
      const { code } = await exitWithin(e, 15_000);
      assert.equal(code, 0, e.logs.map((l) => JSON.stringify(l)).join("\n"));
      assert.deepEqual(
        e.logs.filter((r) => String(r.msg).startsWith("DISPOSED")).map((r) => `${r.module}: ${r.msg}`).sort(),
        names.map((n) => `${n}: DISPOSED ${n}`),
      );
    },
    { args: ["--shutdown.timeout=4500ms"] },
  );
});
