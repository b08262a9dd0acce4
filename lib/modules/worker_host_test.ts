import assert from "node:assert/strict";
import { describeError } from "./describe_error.ts";
import { Registry } from "prom-client";
import { Logger } from "../log.ts";
import { MetricOwnership, type PromRegistry } from "./ownership.ts";
import { emptySandbox } from "./sandbox.ts";
import { deserializeError, sandboxHint, WorkerHost } from "./worker_host.ts";

Deno.test("sandboxHint names the sandbox entry a denied permission needs", () => {
  assert.equal(
    sandboxHint(`Requires net access to "api.internal:443", run again with the --allow-net flag`),
    `declare it in the module's sandbox export: net: ["api.internal:443"]`,
  );
  assert.equal(sandboxHint("something else"), undefined);
});

Deno.test("deserializeError rebuilds a Worker's error so describeError finds its line and sandbox hint", () => {
  const err = deserializeError({
    name: "NotCapable",
    message: `Requires env access to "API_KEY", run again with the --allow-env flag`,
    stack: `NotCapable: Requires env access\n    at process (file:///srv/metrics/api.ts:4:20)`,
  });
  assert.ok(err instanceof Deno.errors.NotCapable);
  assert.deepEqual(describeError(err, "file:///srv/metrics/api.ts"), {
    message: `Requires env access to "API_KEY", run again with the --allow-env flag`,
    line: 4,
    column: 20,
    hint: `declare it in the module's sandbox export: env: ["API_KEY"]`,
  });
  const timeout = deserializeError({
    name: "Error",
    message: "timed out",
    code: "ERR_SCRIPT_EXECUTION_TIMEOUT",
  });
  assert.equal((timeout as { code?: string }).code, "ERR_SCRIPT_EXECUTION_TIMEOUT");
});

Deno.test("a run whose Worker stops handing back pages ends at its timeout: the Worker is replaced", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dx_pages_" });
  const registry = new Registry();
  const ownership = new MetricOwnership(registry as unknown as PromRegistry);
  const host = new WorkerHost({
    ownership,
    log: new Logger({ level: "error", write: () => {} }),
    metricsDir: dir,
    loadTimeoutMs: 10_000,
  });
  // More than a page of series; every request for a next page goes unanswered.
  const source = `import { Gauge } from "prom-client";
const g = new Gauge({ name: "stuck_series", help: "h", labelNames: ["i"] });
const handle = self.onmessage;
self.onmessage = (event) => { if (event.data?.type !== "page") handle(event); };
export function process() {
  for (let i = 0; i < 5000; i++) g.set({ i: String(i) }, i);
}
`;
  const file = `${dir}/stuck.ts`;
  await Deno.writeTextFile(file, source);
  const module = await host.load("stuck", file, { spec: emptySandbox(), source, helpers: [] });
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), 500);
  let deadline: ReturnType<typeof setTimeout> | undefined;
  try {
    const ctx = {
      signal: timeout.signal,
      module: "stuck",
      log: { debug() {}, info() {}, warn() {}, error() {} },
    };
    const outcome = await Promise.race([
      Promise.resolve(module.invoke(ctx, 500)).then(() => "resolved", (err: Error) => err.message),
      new Promise((resolve) => deadline = setTimeout(() => resolve("still waiting after 10 s"), 10_000)),
    ]);
    assert.equal(outcome, "process() timed out; its Worker was replaced");
    assert.equal(module.session?.alive, false);
  } finally {
    clearTimeout(timer);
    clearTimeout(deadline);
    module.terminate();
    host.close();
    ownership.close();
    await Deno.remove(dir, { recursive: true });
  }
});
