import assert from "node:assert/strict";
import { register } from "prom-client";
import { InProcessHost } from "./in_process_host.ts";
import { type LoadedModule, ModuleLoadError } from "./module_host.ts";
import { MetricOwnership, type PromRegistry } from "./ownership.ts";
import { GuardedCaller } from "./guarded_call.ts";

interface Setup {
  dir: string;
  host: InProcessHost;
  ownership: MetricOwnership;
  write(name: string, content: string): Promise<string>;
}

async function withHost(fn: (s: Setup) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dx_host_" });
  const ownership = new MetricOwnership(register as unknown as PromRegistry);
  const host = new InProcessHost(ownership);
  try {
    await fn({
      dir,
      host,
      ownership,
      async write(name, content) {
        await Deno.writeTextFile(`${dir}/${name}`, content);
        return `${dir}/${name}`;
      },
    });
  } finally {
    ownership.close();
    register.clear();
    await Deno.remove(dir, { recursive: true });
  }
}

const gauge = (name: string, value: number) =>
  `import { Gauge } from "prom-client";
const g = new Gauge({ name: "${name}", help: "h" });
export function process() { g.set(${value}); }
`;

const ctx = (name: string) => ({
  signal: new AbortController().signal,
  module: name,
  log: { debug() {}, info() {}, warn() {}, error() {} },
});

async function values(module: LoadedModule): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const family of await module.families()) out[family.name] = family.values[0]?.value;
  return out;
}

Deno.test("InProcessHost attributes metrics registered at import to the module", async () => {
  await withHost(async ({ host, write }) => {
    const module = await host.load("a", await write("a.ts", gauge("host_import_a", 1)));
    await module.invoke(ctx("a"), 1000);
    assert.deepEqual(module.metricNames(), ["host_import_a"]);
    assert.deepEqual(await values(module), { host_import_a: 1 });
  });
});

Deno.test("InProcessHost attributes metrics registered inside concurrent process() calls exactly", async () => {
  const lazy = (name: string) =>
    `import { Gauge } from "prom-client";
export async function process() {
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, Math.random() * 5));
    new Gauge({ name: "${name}_" + i + "_" + Math.random().toString(36).slice(2), help: "h" });
  }
}
`;
  await withHost(async ({ host, write }) => {
    const a = await host.load("a", await write("a.ts", lazy("lazy_a")));
    const b = await host.load("b", await write("b.ts", lazy("lazy_b")));
    await Promise.all([a.invoke(ctx("a"), 1000), b.invoke(ctx("b"), 1000), a.invoke(ctx("a"), 1000)]);
    assert.equal(a.metricNames().length, 10);
    assert.ok(a.metricNames().every((n) => n.startsWith("lazy_a_")), a.metricNames().join());
    assert.equal(b.metricNames().length, 5);
    assert.ok(b.metricNames().every((n) => n.startsWith("lazy_b_")), b.metricNames().join());
  });
});

Deno.test("InProcessHost reload replaces the old version's metrics, even under the same name", async () => {
  await withHost(async ({ host, write }) => {
    const path = await write("m.ts", gauge("host_same_name", 1));
    const v1 = await host.load("m", path);
    await write("m.ts", gauge("host_same_name", 2));
    const v2 = await host.load("m", path, v1);
    await v2.invoke(ctx("m"), 1000);
    assert.deepEqual(await values(v2), { host_same_name: 2 });
    assert.deepEqual(v1.metricNames(), []);
    assert.ok(v2.version > v1.version);
  });
});

Deno.test("InProcessHost keeps the old version's metrics registered when a reload fails", async () => {
  await withHost(async ({ host, ownership, write }) => {
    const path = await write("m.ts", gauge("host_kept", 1));
    const v1 = await host.load("m", path);
    await v1.invoke(ctx("m"), 1000);
    const before = ownership.registered("host_kept");
    await write("m.ts", gauge("host_kept", 2) + "\nthrow new Error('broken');\n");
    await assert.rejects(() => host.load("m", path, v1), {
      name: "ModuleLoadError",
      message: `Cannot load module "m" (${path}:5): broken`,
    });
    assert.equal(ownership.registered("host_kept"), before);
    assert.deepEqual(await values(v1), { host_kept: 1 });
  });
});

Deno.test("InProcessHost refuses a metric name another module owns, naming that module", async () => {
  await withHost(async ({ host, write }) => {
    await host.load("first", await write("first.ts", gauge("host_taken", 1)));
    const err = await host.load("second", await write("second.ts", gauge("host_taken", 2))).catch((e) => e);
    assert.ok(err instanceof ModuleLoadError);
    assert.equal(err.reason, `metric "host_taken" is already registered by module "first"`);
    assert.equal(err.line, 2);
  });
});

Deno.test("InProcessHost validates the exports", async () => {
  await withHost(async ({ host, write }) => {
    const cases: [string, string][] = [
      [
        "export const x = 1;",
        "it exports no process() function: add export function process(ctx) to collect metrics, or export function probe(target, ctx) to answer /probe",
      ],
      ["export const process = 3;", `its "process" export is a number, not a function`],
      [
        "export function process() {}\nexport const interval = 30;",
        `its "interval" export must be a duration string like "30s", not 30`,
      ],
      [
        "export function process() {}\nexport const interval = '30x';",
        `its "interval" export is an invalid duration "30x": use a number and a unit, like 500ms, 10s, 1m or 1h30m`,
      ],
      [
        "export function process() {}\nexport const timeout = '0';",
        `its "timeout" export must be greater than 0`,
      ],
      [
        "export function process() {}\nexport const dispose = {};",
        `its "dispose" export is a object, not a function`,
      ],
    ];
    for (const [i, [source, reason]] of cases.entries()) {
      const err = await host.load(`v${i}`, await write(`v${i}.ts`, source)).catch((e) => e);
      assert.equal(err?.reason, reason, source);
    }
    const ok = await host.load(
      "probe_only",
      await write("probe_only.ts", "export function probe() {}\nexport const targets = ['a'];"),
    );
    assert.equal(ok.name, "probe_only");
  });
});

Deno.test("InProcessHost validates a probe module's exports, naming what to add", async () => {
  await withHost(async ({ host, write }) => {
    const probe = "export function probe() {}\n";
    const cases: [string, string][] = [
      [
        probe,
        "it exports probe() but says no targets it accepts: add export const targets (a RegExp the whole " +
        "target must match, or a list of exact targets) or export function validateTarget(target): boolean",
      ],
      [
        `${probe}export const targets = "a";`,
        `its "targets" export must be a RegExp or a list of strings, not "a"`,
      ],
      [`${probe}export const targets = [];`, `its "targets" list is empty: no target could be probed`],
      [
        `${probe}export const validateTarget = true;`,
        `its "validateTarget" export is a boolean, not a function`,
      ],
      [
        `${probe}export const targets = ["a"];\nexport const params = ["expect", "target"];`,
        `its "params" export declares "target", which is the exporter's own parameter`,
      ],
      [
        `${probe}export const targets = ["a"];\nexport const params = "expect";`,
        `its "params" export must be a list of parameter names, not "expect"`,
      ],
      [
        `${probe}export const targets = ["a"];\nexport const concurrency = 0;`,
        `its "concurrency" export must be a whole number from 1 to 10000, not 0`,
      ],
      [
        `${probe}export const targets = ["a"];\nexport const cache = "0";`,
        `its "cache" export must be greater than 0 (leave it out for no cache)`,
      ],
      [
        `${probe}export const targets = ["a"];\nexport const cache = 30;`,
        `its "cache" export must be a duration string like "30s", not 30`,
      ],
      [
        "export function process() {}\nexport const targets = /x/;",
        `it exports "targets" but no probe(target, ctx) function`,
      ],
    ];
    for (const [i, [source, reason]] of cases.entries()) {
      const err = await host.load(`p${i}`, await write(`p${i}.ts`, source)).catch((e) => e);
      assert.equal(err?.reason, reason, source);
    }
    const ok = await host.load(
      "ok",
      await write(
        "ok.ts",
        "export function process() {}\nexport const interval = '1m30s';\nexport const timeout = '2s';",
      ),
    );
    assert.deepEqual([ok.intervalMs, ok.timeoutMs], [90_000, 2000]);
  });
});

Deno.test("InProcessHost reports a syntax error with its line", async () => {
  await withHost(async ({ host, write }) => {
    const path = await write("syn.ts", "export function process() {\n  const = 1;\n}\n");
    const err = await host.load("syn", path).catch((e) => e);
    assert.ok(err instanceof ModuleLoadError);
    assert.equal(err.line, 2);
    assert.match(err.reason, /^SyntaxError: /);
  });
});

Deno.test("a module's register.clear() clears only its own metrics", async () => {
  await withHost(async ({ host, ownership, write }) => {
    const other = await host.load("other", await write("other.ts", gauge("host_other", 1)));
    const clearing = await host.load(
      "clearing",
      await write(
        "clearing.ts",
        `import { register, Gauge } from "prom-client";\nnew Gauge({ name: "host_mine", help: "h" });\nexport function process() { register.clear(); }\n`,
      ),
    );
    await clearing.invoke(ctx("clearing"), 1000);
    assert.deepEqual(clearing.metricNames(), []);
    assert.deepEqual(other.metricNames(), ["host_other"]);
    assert.ok(ownership.registered("host_other"));
  });
});

Deno.test("InProcessHost dispose() runs the module's dispose and bounds it by the timeout", async () => {
  await withHost(async ({ host, write }) => {
    const module = await host.load(
      "d",
      await write(
        "d.ts",
        `export function process() {}\nexport function dispose() { return new Promise(() => {}); }\n`,
      ),
    );
    await assert.rejects(() => host.dispose(module, 50), { message: "dispose() timed out" });
    const looping = await host.load(
      "l",
      await write("l.ts", `export function process() {}\nexport function dispose() { while (true) {} }\n`),
    );
    await assert.rejects(() => host.dispose(looping, 50), { code: "ERR_SCRIPT_EXECUTION_TIMEOUT" });
  });
});

Deno.test("MetricOwnership.close() puts prom-client's own registry methods back", () => {
  const registry = register as unknown as PromRegistry;
  const original = registry.registerMetric;
  const ownership = new MetricOwnership(registry);
  assert.notEqual(registry.registerMetric, original);
  ownership.close();
  assert.equal(registry.registerMetric, original);
});

Deno.test("GuardedCaller interrupts a synchronous loop and passes a promise through", async () => {
  const caller = new GuardedCaller();
  assert.throws(() =>
    caller.call(
      () => {
        while (true) { /* spin */ }
      },
      undefined,
      50,
    ), { code: "ERR_SCRIPT_EXECUTION_TIMEOUT" });
  assert.equal(await caller.call((x) => Promise.resolve((x as number) + 1), 41, 50), 42);
});

Deno.test("InProcessHost dispose() registers as the retiring version, whose metrics then go", async () => {
  await withHost(async ({ host, ownership, write }) => {
    const module = await host.load(
      "d",
      await write(
        "d.ts",
        `import { Gauge } from "prom-client";\n` +
          `export function process() { new Gauge({ name: "host_late", help: "h" }); }\n` +
          `export function dispose() { new Gauge({ name: "host_in_dispose", help: "h" }); }\n`,
      ),
    );
    await host.dispose(module, 1000);
    assert.equal(ownership.registered("host_in_dispose"), undefined);
    assert.equal(ownership.unowned.metrics.size, 0);
    // A run of the retired version still pending cannot register anything either.
    assert.throws(() => module.invoke(ctx("d"), 1000), {
      message: `metric "host_late" cannot be registered: this version of module "d" is retired`,
    });
    assert.equal(ownership.registered("host_late"), undefined);
  });
});

Deno.test("InProcessHost starts a run only after a read of the metrics under way, so a read never mixes two runs", async () => {
  await withHost(async ({ host, write }) => {
    const module = await host.load(
      "big",
      await write(
        "big.ts",
        `import { Counter } from "prom-client";
const c = new Counter({ name: "host_read_total", help: "h", labelNames: ["i"] });
export function process() {
  for (let i = 0; i < 30000; i++) c.inc({ i: String(i) });
}
`,
      ),
    );
    await module.invoke(ctx("big"), 5000);
    await module.families(); // a read first, as the first scrape makes
    const order: string[] = [];
    const read = module.families().then((families) => {
      order.push("read");
      // Every series holds the first run's value: the second run did not start halfway.
      assert.deepEqual(new Set(families[0].values.map((v) => v.value)), new Set([1]));
    });
    const run = Promise.resolve(module.invoke(ctx("big"), 5000)).then(() => order.push("run"));
    await Promise.all([read, run]);
    assert.deepEqual(order, ["read", "run"]);
    assert.deepEqual(new Set((await module.families())[0].values.map((v) => v.value)), new Set([2]));
  });
});
