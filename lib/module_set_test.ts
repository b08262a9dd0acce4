import assert from "node:assert/strict";
import { FakeClock } from "../tests/_fake_clock.ts";
import { Logger } from "./log.ts";
import { ModuleSet } from "./module_set.ts";
import type { LoadedModule } from "./modules/module_host.ts";
import { IgnoredFiles } from "./modules/ignored_files.ts";
import { StatusBoard } from "./status.ts";
import type { RunResult } from "./schedule/runner.ts";

/** A ModuleSet over a dir holding orders.ts, whose module exports maxAge 1s, on a fake clock. */
async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "dx_module_set_" });
  await Deno.writeTextFile(`${dir}/orders.ts`, "export function process() {}\n");
  const clock = new FakeClock();
  const served = new Set<string>();
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ format: "json", write: (line) => lines.push(JSON.parse(line)) });
  const board = new StatusBoard();
  let module: LoadedModule | undefined;
  const set = new ModuleSet({
    metricsDir: dir,
    collectIntervalMs: 200,
    collectTimeoutMs: 100,
    clock,
    host: {
      load: (name, file) =>
        Promise.resolve(
          module = {
            name,
            file,
            url: `file://${file}`,
            version: 1,
            maxAgeMs: 1000,
            invoke: () => {},
            metricNames: () => [],
            isDynamic: () => false,
            families: () => Promise.resolve([]),
          },
        ),
      dispose: () => Promise.resolve(),
      release: () => {},
    },
    scheduler: { add: () => {}, remove: () => {}, close: () => Promise.resolve(), runSoon: () => {} },
    exposition: {
      freeze: () => Promise.resolve(),
      set: (source) => void served.add(source.name),
      delete: (name) => void served.delete(name),
      invalidate: () => {},
      has: (name) => served.has(name),
    },
    board,
    ignored: new IgnoredFiles(log),
    log,
  });
  await set.sync();
  const run = (outcome: RunResult["outcome"]) =>
    set.onResult(module!, { outcome, startedAt: Date.now(), durationSeconds: 0.01 });
  const status = () => board.list()[0];
  const close = async () => {
    await set.close();
    await Deno.remove(dir, { recursive: true });
  };
  return { clock, served, lines, run, status, close };
}

Deno.test("ModuleSet stops serving a module once its last success is older than its maxAge, and serves it again after a success", async () => {
  const { clock, served, lines, run, status, close } = await setup();
  try {
    run("success");
    assert.deepEqual([...served], ["orders"]);
    clock.advance(500);
    run("error");
    clock.advance(499);
    assert.deepEqual([...served], ["orders"], "failed runs keep the last values until maxAge");
    clock.advance(1);
    assert.deepEqual([...served], []);
    assert.deepEqual([status().expired, status().up, status().maxAgeMs], [true, false, 1000]);
    assert.equal(
      lines.filter((l) => l.msg === "module values older than its maxAge; no longer served").length,
      1,
    );
    run("error");
    assert.deepEqual([...served], []);
    run("success");
    assert.deepEqual([...served], ["orders"]);
    assert.deepEqual([status().expired, status().up], [false, true]);
  } finally {
    await close();
  }
});

Deno.test("ModuleSet leaves no maxAge timer behind once closed", async () => {
  const { clock, run, close } = await setup();
  run("success");
  assert.equal(clock.pendingTimers, 1);
  await close();
  assert.equal(clock.pendingTimers, 0);
});
