/**
 * `deno task compile` and the binary it writes. Building needs Deno's denort runtime, which
 * `deno compile` downloads from dl.deno.land; where that is unreachable, DENORT_BIN names a
 * local denort of the same Deno version. Without one, the binary tests are skipped, saying so.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  gaugeModule,
  scrape,
  startTaskFlags,
  tempMetricsDir,
  waitFor,
  waitForSample,
  withExporter,
} from "./_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const BINARY = `${ROOT}dist/dynamic_exporter`;
const FIXTURES = fileURLToPath(new URL("fixtures/web", import.meta.url));
const denort = Deno.env.get("DENORT_BIN");
if (!denort) {
  console.warn(
    "skipping the compiled-binary tests: DENORT_BIN is not set. `deno compile` needs Deno's denort " +
      "runtime and downloads it from dl.deno.land, which this machine cannot reach; set DENORT_BIN " +
      "to a denort 2.9.6 to build dist/dynamic_exporter and run these tests against it.",
  );
}

/** The flags `deno task compile` gives `deno compile` (through scripts/compile.ts). */
async function compileTask(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  const words: string[] = config.tasks.compile.split(/\s+/);
  return words.slice(words.indexOf("scripts/compile.ts") + 1);
}

Deno.test("the compile task grants the start task's permissions, running any executable (the binary runs itself as module hosts), and writes dist/dynamic_exporter", async () => {
  const words = await compileTask();
  const allows = (list: string[]) => list.filter((w) => w.startsWith("--allow-")).sort();
  const start = allows(await startTaskFlags());
  // Under `deno task start` a host is `deno run`: the start task lets the exporter run Deno's
  // own executable only. The binary's path is not known when it is built.
  assert.ok(start.includes(`--allow-run=${Deno.execPath()}`), start.join(" "));
  assert.deepEqual(allows(words), start.map((w) => w.startsWith("--allow-run=") ? "--allow-run" : w));
  assert.ok(!words.includes("-A") && !words.includes("--allow-all"));
  assert.ok(words.includes("--no-prompt"));
  assert.deepEqual(words.filter((w) => w.startsWith("--unstable")), []);
  assert.deepEqual(words.filter((w) => w.startsWith("--include=")), [
    "--include=deno.json",
    "--include=lib/web_config/bcrypt_worker.ts",
  ]);
  assert.deepEqual(words.slice(-2), ["--output=dist/dynamic_exporter", "main.ts"]);
});

let built: Promise<void> | undefined;

/** Runs `deno task compile` once, with DENORT_BIN. */
function build(): Promise<void> {
  built ??= (async () => {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "compile"],
      cwd: ROOT,
      env: { DENORT_BIN: denort!, NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.ok((await Deno.stat(BINARY)).isFile);
  })();
  return built;
}

Deno.test({
  name: "the binary prints its version and Deno's",
  ignore: !denort,
  async fn() {
    await build();
    const { code, stdout } = await new Deno.Command(BINARY, { args: ["--version"], stdout: "piped" })
      .output();
    assert.equal(code, 0);
    const text = new TextDecoder().decode(stdout);
    assert.match(text, /^dynamic_exporter \d+\.\d+\.\d+\n {2}deno 2\.9\.6\n/);
  },
});

Deno.test({
  name: "the binary loads, reloads and unloads TypeScript modules from an absolute dir at run time",
  ignore: !denort,
  async fn() {
    await build();
    const files = {
      "bare.ts": gaugeModule("bin_bare", 1),
      "pinned.ts": gaugeModule("bin_pinned", 2).replace('from "prom-client"', 'from "npm:prom-client@15"'),
      "uses_helper.ts": `import { Gauge } from "prom-client";
import { answer } from "./lib/helper.ts";
const g = new Gauge({ name: "bin_helper", help: "from a helper" });
export function process() { g.set(answer()); }
`,
      "lib/helper.ts": "export function answer(): number { return 42; }\n",
      "broken.ts": "export function process( {\n",
    };
    // The dir is absolute and unrelated to the binary's own: relative URLs would point into
    // the binary's virtual root.
    await withExporter(files, async (exporter, dir) => {
      let samples = await waitForSample(exporter.url, "bin_helper", 42);
      assert.equal(samples.get("bin_bare"), 1);
      assert.equal(samples.get("bin_pinned"), 2);
      assert.equal(samples.get('dynamic_exporter_module_last_load_successful{module="broken"}'), 0);

      await Deno.writeTextFile(`${dir}/bare.ts`, gaugeModule("bin_bare", 5));
      await waitForSample(exporter.url, "bin_bare", 5);
      await Deno.remove(`${dir}/pinned.ts`);
      samples = await waitForSample(exporter.url, "bin_pinned", undefined);
      assert.equal(samples.get('dynamic_exporter_module_up{module="pinned"}'), undefined);
    }, { binary: BINARY });
  },
});

Deno.test({
  name: "the binary's modules may read files and may not start subprocesses, with a hint naming the flag",
  ignore: !denort,
  async fn() {
    await build();
    const files = {
      "reads.ts": `import { Gauge } from "prom-client";
const g = new Gauge({ name: "bin_file_bytes", help: "size of a file" });
export async function process() { g.set((await Deno.readTextFile(import.meta.filename!)).length); }
`,
      "spawns.ts": `export async function process() { await new Deno.Command("true").output(); }\n`,
    };
    await withExporter(files, async (exporter) => {
      await waitFor(async () => (await scrape(exporter.url)).has("bin_file_bytes"));
      await waitForSample(exporter.url, 'dynamic_exporter_module_up{module="spawns"}', 0);
      const failure = await exporter.waitForLog((r) => r.module === "spawns" && r.hint !== undefined);
      assert.equal(
        failure.hint,
        "modules may not have it: start the exporter with --modules.allow-run=true (or the broader flag)",
      );
    }, { binary: BINARY });
  },
});

Deno.test({
  name: "the binary serves TLS with basic auth from a web config",
  ignore: !denort,
  async fn() {
    await build();
    const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${FIXTURES}/ca.pem`)] });
    try {
      await withExporter({ "tls.ts": gaugeModule("bin_tls", 3) }, async (exporter) => {
        assert.match(exporter.url, /^https:/);
        const denied = await fetch(`${exporter.url}/metrics`, { client });
        await denied.body?.cancel();
        assert.equal(denied.status, 401);
        const auth = { authorization: `Basic ${btoa("prometheus:scrape-secret")}` };
        await waitFor(async () => (await scrape(exporter.url, auth, client)).get("bin_tls") === 3);
      }, { binary: BINARY, args: [`--web.config.file=${FIXTURES}/tls_auth.good.yml`] });
    } finally {
      client.close();
    }
  },
});

Deno.test({
  name: "the binary's check command runs one module and prints its exposition",
  ignore: !denort,
  async fn() {
    await build();
    const dir = await tempMetricsDir({ "one.ts": gaugeModule("bin_check", 9) });
    try {
      const { code, stdout } = await new Deno.Command(BINARY, {
        args: ["check", `${dir}/one.ts`],
        stdout: "piped",
        stderr: "null",
      }).output();
      assert.equal(code, 0);
      assert.match(new TextDecoder().decode(stdout), /^bin_check 9$/m);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "the binary runs a sandboxed module in a host of its own with only what it declares",
  ignore: !denort,
  async fn() {
    await build();
    const reader = (declared: string, name: string) =>
      `import { Gauge } from "prom-client";
const g = new Gauge({ name: "${name}", help: "h" });
export const sandbox = { ${declared} };
export async function process() { g.set((await Deno.readTextFile("/etc/hostname")).length); }
`;
    const files = {
      "allowed.ts": reader(`read: ["/etc/hostname"]`, "bin_sandbox_allowed"),
      "denied.ts": reader("", "bin_sandbox_denied"),
    };
    await withExporter(files, async (exporter) => {
      const length = (await Deno.readTextFile("/etc/hostname")).length;
      await waitForSample(exporter.url, "bin_sandbox_allowed", length);
      const failure = await exporter.waitForLog((r) =>
        r.module === "denied" && r.msg === "module run failed"
      );
      assert.equal(
        failure.hint,
        `declare it in the module's sandbox export: read: ["/etc/hostname"] (within what --modules.allow-read grants modules)`,
      );
    }, { binary: BINARY });
  },
});

Deno.test({
  name: "the binary's test command replays the shipped examples' fixtures (issue 19)",
  ignore: !denort,
  async fn() {
    await build();
    const { code, stdout } = await new Deno.Command(BINARY, {
      args: ["test", "metrics", "examples", "--format=tap"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "inherit",
    }).output();
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 0, text);
    assert.match(text, /^TAP version 13\n1\.\.\d+\nok 1 - backup_status: /);
  },
});
