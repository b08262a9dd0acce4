/**
 * End to end, issue 21: nothing of a module is left running once it is gone (a quarantined
 * module edited and deleted, a dispose() that loops, a Worker a module started), and a shared
 * host's module picks up an edited helper.
 */

import assert from "node:assert/strict";
import {
  descendants,
  type Exporter,
  observationWindow,
  scrape,
  tickingModule,
  waitAbove,
  waitFor,
  withExporter,
} from "./_server.ts";
import { coreShare, FAST_SUPERVISION } from "./_hosts.ts";

/** Waits until the exporter has at most `count` host processes (an idle shared host may be gone too). */
async function hostsAtMost(e: Exporter, count: number, timeoutMs = 20_000): Promise<void> {
  let now: number[] = [];
  await waitFor(async () => (now = await descendants(e.process.pid)).length <= count, {
    timeoutMs,
    message: () => `${now.length} host processes: ${now.join(" ")}`,
  });
}

async function idle(e: Exporter): Promise<void> {
  const share = await coreShare(e.process.pid, 3000);
  assert.ok(share < 0.05, `the exporter and its hosts used ${share.toFixed(3)} of a core`);
}

const spinner = (n: number) =>
  `export const interval = "300ms";
export const timeout = "300ms";
// edit ${n}
export async function process() { await Promise.resolve(); for (;;) {} }
`;

Deno.test("a quarantined module edited 3 times, then deleted, leaves no process and no busy core", async () => {
  await withExporter({ "spinner.ts": spinner(0) }, async (e, dir) => {
    await e.waitForLog((r) => r.msg === "module quarantined" && r.module === "spinner", 40_000);
    for (let n = 1; n <= 3; n++) {
      await Deno.writeTextFile(`${dir}/spinner.ts`, spinner(n));
      await waitFor(
        () => e.logs.filter((r) => r.msg === "module reloaded" && r.module === "spinner").length >= n,
        {
          timeoutMs: 40_000,
        },
      );
    }
    await Deno.remove(`${dir}/spinner.ts`);
    await e.waitForLog((r) => r.msg === "module unloaded" && r.module === "spinner");
    await hostsAtMost(e, 1); // the shared host at most: the spinner's own is gone
    await idle(e);
  }, { args: [...FAST_SUPERVISION] });
});

/** Version `n` of a module that serves `looper_version` n and whose dispose() loops after an await. */
const looper = (n: number, interval: string) =>
  `import { Gauge } from "prom-client";
const g = new Gauge({ name: "looper_version", help: "h" });
export const interval = "${interval}";
export function process() { g.set(${n}); }
export async function dispose() { await Promise.resolve(); for (;;) {} }
`;

Deno.test("a dispose() that loops after an await, over 4 reloads, leaves no busy core", async () => {
  const module = (n: number) => looper(n, "1h");
  await withExporter(
    { "looper.ts": module(0), "ticking.ts": tickingModule("ticking_runs", "1s") },
    async (e, dir) => {
      await waitFor(async () => (await scrape(e.url)).get("looper_version") === 0);
      for (let n = 1; n <= 4; n++) {
        await Deno.writeTextFile(`${dir}/looper.ts`, module(n));
        // Loaded: the previous version's dispose() is under way. (Its first run may wait out a
        // host restart and the retry backoff, seconds on a loaded machine: only the last is awaited.)
        await waitFor(
          () => e.logs.filter((r) => r.msg === "module reloaded" && r.module === "looper").length >= n,
          {
            timeoutMs: 40_000,
          },
        );
      }
      await waitFor(async () => (await scrape(e.url)).get("looper_version") === 4, { timeoutMs: 40_000 });
      // Each old version's dispose() froze the shared host: it was killed, and a new one serves.
      await waitFor(() => e.logs.filter((r) => r.msg === "module host ended").length >= 1, {
        timeoutMs: 40_000,
      });
      await Deno.remove(`${dir}/ticking.ts`);
      await waitFor(async () => !(await scrape(e.url)).has("ticking_runs"));
      await observationWindow(2500); // the last dispose()'s timeout and grace
      await idle(e);
    },
    { args: [...FAST_SUPERVISION] },
  );
});

Deno.test("a host death during the replaced version's dispose() is logged as its doing, and the new version is served", async () => {
  // Runs at scrape time: no run of the new version is in flight when the old one's dispose() loops.
  const module = (n: number) => looper(n, "0");
  await withExporter({ "looper.ts": module(0) }, async (e, dir) => {
    await e.waitForLog((r) => r.msg === "module loaded" && r.module === "looper");
    await Deno.writeTextFile(`${dir}/looper.ts`, module(1));
    const death = await e.waitForLog((r) => r.msg === "module host ended", 40_000);
    assert.equal(death.disposing, "looper", JSON.stringify(death));
    assert.equal(death.suspects, undefined, "the version now loaded is not a suspect");
    await waitFor(async () => (await scrape(e.url)).get("looper_version") === 1, { timeoutMs: 20_000 });
  }, { args: [...FAST_SUPERVISION] });
});

Deno.test("a Worker a module started, looping, stops with its host when the module is deleted", async () => {
  const module = `import { Gauge } from "prom-client";
const g = new Gauge({ name: "worker_started", help: "h" });
let started = false;
export function process() {
  if (!started) {
    const code = "for (;;) {}";
    new Worker(URL.createObjectURL(new Blob([code], { type: "text/javascript" })), { type: "module" });
    started = true;
  }
  g.set(1);
}
`;
  await withExporter(
    { "starter.ts": module, "ticking.ts": tickingModule("ticking_runs", "1s") },
    async (e, dir) => {
      await waitFor(async () => (await scrape(e.url)).get("worker_started") === 1);
      await Deno.remove(`${dir}/starter.ts`);
      await e.waitForLog((r) => r.msg === "replacing the shared module host");
      await waitAbove(e.url, "ticking_runs", (await scrape(e.url)).get("ticking_runs") ?? 0);
      await Deno.remove(`${dir}/ticking.ts`);
      await waitFor(async () => !(await scrape(e.url)).has("ticking_runs"));
      await idle(e);
    },
    { args: [...FAST_SUPERVISION] },
  );
});

Deno.test("an edited helper of a shared-host module is served within 2 s", async () => {
  const files = {
    "uses_helper.ts": `import { Gauge } from "prom-client";
import { value } from "./lib/value.ts";
const g = new Gauge({ name: "helper_value", help: "h" });
export const interval = "200ms";
export function process() { g.set(value); }
`,
    "lib/value.ts": "export const value = 1;\n",
  };
  await withExporter(files, async (e, dir) => {
    await waitFor(async () => (await scrape(e.url)).get("helper_value") === 1);
    await Deno.writeTextFile(`${dir}/lib/value.ts`, "export const value = 2;\n");
    const start = performance.now();
    await waitFor(async () => (await scrape(e.url)).get("helper_value") === 2, { timeoutMs: 10_000 });
    const took = performance.now() - start;
    assert.ok(took < 2000, `the edited helper was served after ${Math.round(took)} ms`);
  }, { args: [...FAST_SUPERVISION] });
});

Deno.test("a sandboxed module whose file is a symlink may read its own file, not the files beside its target", async () => {
  const outside = await Deno.makeTempDir({ prefix: "dx_target_" });
  await Deno.writeTextFile(`${outside}/secret.txt`, "secret");
  await Deno.writeTextFile(
    `${outside}/linked.ts`,
    `import { Gauge } from "prom-client";
const g = new Gauge({ name: "linked_read", help: "h" });
export const sandbox = {};
export function process() {
  g.set(Deno.readTextFileSync(new URL(import.meta.url)).length > 0 ? 1 : 0);
  Deno.readTextFileSync(${JSON.stringify(`${outside}/secret.txt`)});
}
`,
  );
  try {
    await withExporter({}, async (e, dir) => {
      await Deno.symlink(`${outside}/linked.ts`, `${dir}/linked.ts`);
      const failed = await e.waitForLog(
        (r) => r.msg === "module run failed" && r.module === "linked",
        20_000,
      );
      assert.match(String(failed.err), /^Requires read access to ".*secret\.txt"/);
      assert.match(String(failed.hint), /^declare it in the module's sandbox export: read: \[/);
    }, { args: [...FAST_SUPERVISION] });
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});
