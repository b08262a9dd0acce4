/** `deno task check-module <file>`: the task as users run it, on real files. */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { gaugeModule, runTask, startTaskFlags, tempMetricsDir } from "./_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

function checkModule(
  file: string,
  ...flags: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runTask(["check-module", file, ...flags]);
}

Deno.test("check-module prints a good module's exposition and exits 0", async () => {
  const dir = await tempMetricsDir({ "good.ts": gaugeModule("good_value", 5) });
  try {
    const { code, stdout, stderr } = await checkModule(`${dir}/good.ts`);
    assert.equal(stdout, "# HELP good_value test gauge good_value\n# TYPE good_value gauge\ngood_value 5\n");
    assert.match(
      stderr,
      new RegExp(
        `^module good\\n  interval: 10s \\(--collect.interval\\)\\n  timeout: 5s \\(--collect.timeout\\)\\n` +
          `  sandbox: none \\(runs in the shared module host, with the modules' permissions: net read env\\)\\n` +
          `  type check: passed \\(deno check\\)\\n` +
          `OK ${dir}/good.ts: 1 metric family, process\\(\\) took [0-9.]+ms\\n$`,
      ),
    );
    assert.equal(code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check-module exits 1 with the reason for a module that fails", async () => {
  const dir = await tempMetricsDir({
    "noproc.ts": "export const x = 1;\n",
    "throws.ts": `export function process() { throw new Error("no upstream"); }\n`,
    "slow.ts":
      `export const timeout = "100ms";\nexport function process() { return new Promise(() => {}); }\n`,
    "reserved.ts": gaugeModule("dynamic_exporter_mine", 1),
  });
  try {
    const cases: [string, string][] = [
      [
        "noproc.ts",
        `Cannot load module "noproc" (${dir}/noproc.ts): it exports no process() function: add export function process(ctx) to collect metrics, or export function probe(target, ctx) to answer /probe`,
      ],
      ["throws.ts", "process() failed: no upstream"],
      ["slow.ts", "process() did not finish within 100ms"],
      [
        "reserved.ts",
        `Cannot load module "reserved" (${dir}/reserved.ts:2): metric "dynamic_exporter_mine" uses the reserved prefix "dynamic_exporter_"`,
      ],
    ];
    for (const [file, reason] of cases) {
      const result = await checkModule(`${dir}/${file}`);
      assert.deepEqual(
        { code: result.code, stderr: result.stderr.split("\n").filter((l) => l.startsWith("FAIL")) },
        { code: 1, stderr: [`FAIL ${dir}/${file}: ${reason}`] },
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const TYPED = `import { Gauge } from "prom-client";
import type { Module, ProcessContext, Sandbox } from "dynamic_exporter";
const g = new Gauge({ name: "typed_value", help: "typed" });
export const interval: Module["interval"] = "1d";
export const timeout: Module["timeout"] = "3s";
export const maxAge: Module["maxAge"] = "2d";
export const sandbox: Sandbox = { net: ["api.internal:443"], env: ["API_KEY"], memory: "128MB" };
export function process(ctx: ProcessContext): void {
  g.set(ctx.module.length);
}
`;

Deno.test("check-module type-checks a module outside the project against the exporter's types", async () => {
  // A temp dir has no deno.json: the types come through the exporter's import map.
  const dir = await tempMetricsDir({
    "typed.ts": TYPED,
    "zero.ts": TYPED.replace("g.set(ctx.module.length)", 'g.set("zero")'),
    "wrong_ctx.ts": TYPED.replace("ctx.module.length", "ctx.signal.reason.length + ctx.nothing"),
  });
  try {
    const typed = await checkModule(`${dir}/typed.ts`);
    assert.deepEqual(
      { code: typed.code, stdout: typed.stdout, report: typed.stderr.split("\n").slice(0, 6) },
      {
        code: 0,
        stdout: "# HELP typed_value typed\n# TYPE typed_value gauge\ntyped_value 5\n",
        report: [
          "module typed",
          "  interval: 1d (its own export)",
          "  timeout: 3s (its own export)",
          "  maxAge: 2d (its own export)",
          "  sandbox: a host of its own with --allow-net=api.internal:443 --allow-env=API_KEY, memory 128 MB",
          "  type check: passed (deno check)",
        ],
      },
    );
    for (const [file, error] of [["zero.ts", "TS2345"], ["wrong_ctx.ts", "TS2339"]]) {
      const result = await checkModule(`${dir}/${file}`);
      assert.equal(result.code, 1, file);
      assert.match(result.stderr, new RegExp(error), file);
      assert.equal(result.stdout, "", `${file} never ran`);
      assert.match(
        result.stderr,
        new RegExp(`^FAIL ${dir}/${file}: it does not type-check \\(deno check, above\\)$`, "m"),
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("check-module prints the permission hint the log line has", async () => {
  const dir = await tempMetricsDir({
    "needs_run.ts": `export async function process() { await new Deno.Command("true").output(); }\n`,
  });
  try {
    const { code, stderr } = await checkModule(`${dir}/needs_run.ts`);
    assert.equal(code, 1);
    assert.deepEqual(stderr.split("\n").slice(-3), [
      "  hint: modules may not have it: start the exporter with --modules.allow-run=true (or the broader flag)",
      `FAIL ${dir}/needs_run.ts: process() failed: Requires run access to "true"`,
      "",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the check command without the task (as in the binary) says it skipped the type check", async () => {
  const dir = await tempMetricsDir({ "typed.ts": TYPED });
  try {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...await startTaskFlags(), `${ROOT}main.ts`, "check", `${dir}/typed.ts`],
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    const lines = new TextDecoder().decode(stderr).split("\n");
    assert.ok(
      lines.includes(
        "  type check: skipped (this command does not type-check; `deno task check-module` does, where Deno is installed)",
      ),
      lines.join("\n"),
    );
    assert.equal(code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const PROBE = `import { Gauge } from "prom-client";
import type { ProbeContext } from "dynamic_exporter";
export const targets = ["ok", "bad"];
export function probe(target: string, ctx: ProbeContext) {
  ctx.log.info("probing", { target });
  new Gauge({ name: "probe_module_value", help: "h", registers: [ctx.registry] }).set(3);
  if (target === "bad") throw new Error("it is down");
}
`;

Deno.test("check-module --target probes a probe module once: its metrics, or why it failed", async () => {
  const dir = await tempMetricsDir({ "prober.ts": PROBE });
  try {
    const ok = await checkModule(`${dir}/prober.ts`, "--target=ok");
    assert.equal(
      ok.stdout,
      "# HELP probe_module_value h\n# TYPE probe_module_value gauge\nprobe_module_value 3\n",
    );
    assert.match(
      ok.stderr,
      /\n {2}log: level=info msg="probing"\nOK .*prober\.ts: probe of "ok" succeeded in [0-9.]+ms\n$/,
    );
    assert.equal(ok.code, 0);
    const bad = await checkModule(`${dir}/prober.ts`, "--target=bad");
    assert.match(bad.stderr, /\nFAIL .*prober\.ts: probe\(\) failed: it is down\n$/);
    assert.equal(bad.code, 1);
    const refused = await checkModule(`${dir}/prober.ts`, "--target=other");
    assert.match(
      refused.stderr,
      /\nFAIL .*prober\.ts: target "other" is refused by the module \(its targets or validateTarget\(\)\)\n$/,
    );
    assert.equal(refused.code, 1);
    const without = await checkModule(`${dir}/prober.ts`);
    assert.match(
      without.stderr,
      /\nOK .*prober\.ts: a probe module; give --target=<target> to probe it once\n$/,
    );
    assert.equal(without.code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
