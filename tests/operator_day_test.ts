/**
 * Issue 11, "the module author's and operator's day", end to end: the real exporter (main.ts with
 * the start task's permissions) and the real tasks, on temp dirs.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  gaugeModule,
  observationWindow,
  readLogs,
  startTaskFlags,
  tempMetricsDir,
  waitFor,
  waitForSample,
  withExporter,
} from "./_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** Runs main.ts to its end with the start task's permissions; stdout and stderr as text. */
async function runMain(args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...await startTaskFlags(), `${ROOT}/main.ts`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, stdout: text(stdout), stderr: text(stderr) };
}

// Settings: --env-file

const SETTINGS_MODULE = `import { Gauge } from "prom-client";
// Read at import, as ported Python modules read os.environ at the top.
const atImport = Number(Deno.env.get("DX_AT_IMPORT") ?? "-1");
const g = new Gauge({ name: "settings_value", help: "from the env file", labelNames: ["when"] });
export function process() {
  g.set({ when: "import" }, atImport);
  g.set({ when: "run" }, Number(Deno.env.get("DX_AT_RUN") ?? "-1"));
  g.set({ when: "shell" }, Number(Deno.env.get("DX_SHELL") ?? "-1"));
}
`;

Deno.test("--env-file sets the modules' settings before any module loads; the shell's value wins", async () => {
  const envDir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${envDir}/.env`,
      `# settings of the modules\nDX_AT_IMPORT=7\nexport DX_AT_RUN="8" # quoted\nDX_SHELL=1\n`,
    );
    await withExporter({ "settings.ts": SETTINGS_MODULE }, async (e) => {
      const samples = await waitForSample(e.url, 'settings_value{when="import"}', 7);
      assert.deepEqual(
        [samples.get('settings_value{when="run"}'), samples.get('settings_value{when="shell"}')],
        [8, 9],
      );
    }, { args: [`--env-file=${envDir}/.env`], env: { DX_SHELL: "9" } });
  } finally {
    await Deno.remove(envDir, { recursive: true });
  }
});

Deno.test("--env-file naming a missing or malformed file exits 2 with one line naming the flag", async () => {
  const dir = await tempMetricsDir({ "bad.env": "DX_OK=1\nDX_BROKEN\n" });
  try {
    const cases: [string, string][] = [
      [
        `${dir}/missing.env`,
        `dynamic_exporter: --env-file: "${dir}/missing.env" does not exist\n`,
      ],
      [
        `${dir}/bad.env`,
        `dynamic_exporter: --env-file: "${dir}/bad.env" line 2 is not KEY=VALUE (a name of letters, digits and _, then =, then the value)\n`,
      ],
    ];
    for (const [file, line] of cases) {
      const { code, stderr } = await runMain([`--metrics.dir=${dir}`, `--env-file=${file}`]);
      assert.deepEqual({ code, stderr }, { code: 2, stderr: line });
      const check = await runMain(["check", `${dir}/x.ts`, `--env-file=${file}`]);
      assert.deepEqual({ code: check.code, stderr: check.stderr }, { code: 2, stderr: line }, "check");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// Types for module authors

Deno.test("modules anywhere on disk, the examples included, import the module types and load", async () => {
  const files: Record<string, string> = {
    "typed.ts": `import { Gauge } from "prom-client";
import type { Module, ModuleLog, ProcessContext, Sandbox } from "dynamic_exporter";
const g = new Gauge({ name: "typed_value", help: "typed" });
export const interval: Module["interval"] = "1s";
const log = (l: ModuleLog) => l.debug("typed ran");
export function process(ctx: ProcessContext): void {
  log(ctx.log);
  g.set(ctx.module.length);
}
export const unused: Sandbox | undefined = undefined;
`,
  };
  for (const example of ["example_metric.ts", "file_age.ts", "http_probe.ts"]) {
    files[example] = await Deno.readTextFile(`${ROOT}metrics/${example}`);
  }
  // A temp dir outside the project, with no deno.json: the exporter's import map applies.
  await withExporter(files, async (e, dir) => {
    const samples = await waitForSample(e.url, "typed_value", 5);
    for (const module of ["typed", "example_metric", "file_age", "http_probe"]) {
      assert.equal(
        samples.get(`dynamic_exporter_module_last_load_successful{module="${module}"}`),
        1,
        module,
      );
    }
    const checked = await new Deno.Command(Deno.execPath(), {
      args: [
        "check",
        "--quiet",
        `--config=${ROOT}deno.json`,
        ...Object.keys(files).map((f) => `${dir}/${f}`),
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.ok(checked.success, new TextDecoder().decode(checked.stderr));
  });
});

// A dev loop that fits

/** A copy of the exporter's own files in a temp dir, so that a test may edit its lib/. */
async function projectCopy(): Promise<string> {
  const copy = await Deno.makeTempDir({ prefix: "dx_project_" });
  const { success, stderr } = await new Deno.Command("cp", {
    args: ["-R", "main.ts", "lib", "scripts", "deno.json", "deno.lock", copy],
    cwd: ROOT,
    stderr: "piped",
  }).output();
  assert.ok(success, new TextDecoder().decode(stderr));
  return copy;
}

/** The pids of processes whose command line mentions `text` (from ps: Deno reads /proc only with -A). */
async function processesMentioning(text: string): Promise<number[]> {
  const { stdout } = await new Deno.Command("ps", { args: ["-eo", "pid=,args="], stdout: "piped" }).output();
  return new TextDecoder().decode(stdout).split("\n")
    .filter((line) => line.includes(text))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

Deno.test("deno task dev restarts on a change under lib/, not on a module edit elsewhere, and ends on SIGTERM", async () => {
  const copy = await projectCopy();
  const dir = await tempMetricsDir({ "a.ts": gaugeModule("a_value", 1) });
  const task = new Deno.Command(Deno.execPath(), {
    args: ["task", "dev", `--metrics.dir=${dir}`, "--web.listen-address=127.0.0.1:0", "--log.format=json"],
    cwd: copy,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const { logs, output, reading } = readLogs(task.stderr);
  const count = (msg: string) => logs.filter((r) => r.msg === msg).length;
  const dump = () => [...output, ...logs.map((r) => JSON.stringify(r))].join("\n");
  let code: number | undefined;
  try {
    await waitFor(() => count("metrics dir loaded; ready") === 1, { timeoutMs: 30_000, message: dump });

    // A module edit in the outside dir: the exporter hot-reloads it and does not restart.
    await Deno.writeTextFile(`${dir}/a.ts`, gaugeModule("a_value", 2));
    await waitFor(() => count("module reloaded") === 1, { timeoutMs: 10_000, message: dump });
    await observationWindow(1500);
    assert.equal(count("starting"), 1, dump());

    // A change to the exporter's own code: it restarts.
    await Deno.writeTextFile(`${copy}/lib/version.ts`, "\n// edited by the test\n", { append: true });
    await waitFor(() => count("metrics dir loaded; ready") === 2, { timeoutMs: 30_000, message: dump });
    assert.equal(count("starting"), 2);
    assert.ok(output.some((l) => l === "dev: restarting: lib/version.ts changed"), dump());

    task.kill("SIGTERM");
    code = (await task.status).code;
    await reading;
    assert.equal(code, 0, dump());
    assert.equal(count("stopped"), 2, "the restarted exporter stopped cleanly too");
    await waitFor(async () => (await processesMentioning(copy)).length === 0, {
      timeoutMs: 5_000,
      message: () => "a process of the dev task is left behind",
    });
  } finally {
    if (code === undefined) {
      for (const pid of await processesMentioning(copy)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      await task.status;
      await reading;
    }
    await Deno.remove(copy, { recursive: true });
    await Deno.remove(dir, { recursive: true });
  }
});

// Compile says what to do

Deno.test("deno task compile without its runtime says in one line to set DENORT_BIN, and writes nothing", async () => {
  const copy = await projectCopy();
  const runtime =
    `a denort of Deno ${Deno.version.deno} for ${Deno.build.target} (the runtime \`deno compile\` ` +
    `embeds: https://dl.deno.land/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip, unzipped)`;
  const { DENORT_BIN: _, ...inherited } = Deno.env.toObject();
  const compile = async (env: Record<string, string>) => {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "compile"],
      cwd: copy,
      clearEnv: true,
      env: { ...inherited, NO_COLOR: "1", ...env },
      stdout: "null",
      stderr: "piped",
    }).output();
    return { code, stderr: new TextDecoder().decode(stderr) };
  };
  const entries = async () => (await Array.fromAsync(Deno.readDir(copy))).map((e) => e.name).sort();
  try {
    // A missing DENORT_BIN: refused before deno compile starts.
    assert.deepEqual(await compile({ DENORT_BIN: `${copy}/no_such_denort` }), {
      code: 1,
      stderr: `compile: DENORT_BIN="${copy}/no_such_denort" is not a file; it must point to ${runtime}\n`,
    });
    assert.deepEqual(await entries(), ["deno.json", "deno.lock", "lib", "main.ts", "scripts"], "no dist/");

    // No DENORT_BIN and no network: a proxy that refuses makes the download fail as it does offline.
    const offline = await compile({ HTTPS_PROXY: "http://127.0.0.1:9", https_proxy: "http://127.0.0.1:9" });
    if (offline.code === 0) {
      // A denort downloaded earlier is in Deno's cache: then the build works, and is whole.
      console.warn("deno compile found its runtime in the cache; the offline message was not exercised");
      assert.deepEqual(await entries(), ["deno.json", "deno.lock", "dist", "lib", "main.ts", "scripts"]);
      assert.deepEqual((await Array.fromAsync(Deno.readDir(`${copy}/dist`))).map((e) => e.name), [
        "dynamic_exporter",
      ]);
      return;
    }
    assert.deepEqual(offline, {
      code: 1,
      stderr:
        `compile: cannot download Deno's runtime (dl.deno.land is unreachable); set DENORT_BIN to ${runtime}\n`,
    });
    assert.deepEqual(await entries(), ["deno.json", "deno.lock", "lib", "main.ts", "scripts"], "no dist/");
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
});

Deno.test("deno task check-module takes --env-file like the exporter", async () => {
  const dir = await tempMetricsDir({
    "setting.ts": `import { Gauge } from "prom-client";
const g = new Gauge({ name: "setting_value", help: "from the env file" });
export function process() { g.set(Number(Deno.env.get("DX_CHECK_SETTING") ?? "-1")); }
`,
    "settings.env": "DX_CHECK_SETTING=42\n",
  });
  try {
    const { code, stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "check-module", `${dir}/setting.ts`, `--env-file=${dir}/settings.env`],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "null",
    }).output();
    assert.deepEqual({ code, stdout: new TextDecoder().decode(stdout) }, {
      code: 0,
      stdout: "# HELP setting_value from the env file\n# TYPE setting_value gauge\nsetting_value 42\n",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// Small things met on the way

Deno.test("-h prints the help, and an unknown flag suggests the nearest known one", async () => {
  const help = await runMain(["-h"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^usage: dynamic_exporter \[flags\]$/m);
  assert.match(help.stdout, /^ {2}--env-file=<value>$/m);
  const typo = await runMain(["--metrics-dir=/srv/metrics"]);
  assert.deepEqual(
    { code: typo.code, stderr: typo.stderr },
    {
      code: 2,
      stderr: "dynamic_exporter: unknown flag --metrics-dir; did you mean --metrics.dir? see --help\n",
    },
  );
});

Deno.test("the starting line comes before the listening line", async () => {
  await withExporter({}, (e) => {
    const messages = e.logs.map((r) => r.msg);
    const starting = messages.indexOf("starting");
    assert.ok(starting >= 0 && starting < messages.indexOf("listening"), messages.join(", "));
    return Promise.resolve();
  });
});

Deno.test("cannot listen names the address that is taken, not the flag", async () => {
  const dir = await tempMetricsDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { port } = taken.addr as Deno.NetAddr;
    const { code, stderr } = await runMain([
      `--metrics.dir=${dir}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.format=json",
    ]);
    const line = stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l))
      .find((r) => r.msg === "cannot listen");
    assert.equal(code, 1);
    assert.equal(line?.address, `127.0.0.1:${port}`, stderr);
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a denied execSync and a denied https import get the permission hint", async () => {
  const exec = `import { execSync } from "node:child_process";
export function process() { execSync("true"); }
`;
  // A specifier built at run time, so that Deno meets it only then. Under the tasks'
  // --cached-only it is refused as not installed; a compiled binary refuses it for want of
  // --allow-import (lib/modules/describe_error_test.ts has that message).
  const remote = `export async function process() {
  const host = "example.invalid";
  await import(\`https://\${host}/helper.ts\`);
}
`;
  await withExporter({ "runs_exec.ts": exec, "remote_import.ts": remote }, async (e) => {
    const run = await e.waitForLog((r) => r.msg === "module run failed" && r.module === "runs_exec");
    assert.deepEqual([run.err, run.hint], [
      "Command failed: true",
      "grant it with --allow-run in the exporter's permission flags",
    ]);
    const remoteRun = await e.waitForLog((r) =>
      r.msg === "module run failed" && r.module === "remote_import"
    );
    assert.deepEqual([remoteRun.err, remoteRun.hint], [
      `cannot import "https://example.invalid/helper.ts": the exporter does not download packages at run time`,
      `add it to deno.json's "imports", run \`deno install\` in the exporter's directory and restart ` +
      "(a compiled binary needs a rebuild)",
    ]);
  });
});

Deno.test("a module's ctx.log fields cannot override module=", async () => {
  const module = `export function process(ctx) {
  ctx.log.warn("pretending", { module: "someone_else", detail: 1 });
}
`;
  await withExporter({ "honest.ts": module }, async (e) => {
    const line = await e.waitForLog((r) => r.msg === "pretending");
    assert.deepEqual([line.module, line.detail], ["honest", 1]);
  });
});
