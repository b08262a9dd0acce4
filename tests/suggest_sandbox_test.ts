/**
 * `deno task check-module <file> --suggest-sandbox` (issue 19): the sandbox declaration a module
 * needs, learned from one run under Deno's permission audit, and checked by the real exporter.
 */

import assert from "node:assert/strict";
import { descendants, runTask, startExporter, tempMetricsDir, waitForSample } from "./_server.ts";

function suggest(
  file: string,
  flags: string[] = [],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return runTask(["check-module", file, "--suggest-sandbox", ...flags], env);
}

/** The `ps` arguments of the module host named `name` among `pid`'s descendants. */
async function hostArgs(pid: number, name: string): Promise<string[] | undefined> {
  for (const child of await descendants(pid)) {
    const { stdout } = await new Deno.Command("ps", {
      args: ["-o", "args=", "-p", String(child)],
      stdout: "piped",
    })
      .output();
    const args = new TextDecoder().decode(stdout).trim().split(" ");
    if (args.includes(`--name=${name}`)) return args;
  }
  return undefined;
}

const PREAMBLE = "module ";
const RAN =
  "  ran once, within the modules' permissions (net read env), with Deno's permission audit: its import, process()\n";

Deno.test("--suggest-sandbox prints exactly the file, env var and URL a module used, and the module then runs sandboxed with them", async () => {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => new Response("7"));
  const port = server.addr.port;
  const dir = await tempMetricsDir({ "data/token.txt": "abc\n" });
  const token = `${dir}/data/token.txt`;
  const module = (declaration: string) =>
    `import { Gauge } from "prom-client";
const g = new Gauge({ name: "suggested_value", help: "token, env var and served lengths" });
${declaration}
export async function process() {
  const token = (await Deno.readTextFile(${JSON.stringify(token)})).trim();
  const env = Deno.env.get("SUGGEST_TEST_TOKEN") ?? "";
  const served = Number(await (await fetch("http://127.0.0.1:${port}/value")).text());
  g.set(token.length * 100 + env.length * 10 + served);
}
`;
  const env = { SUGGEST_TEST_TOKEN: "secret" };
  try {
    await Deno.writeTextFile(`${dir}/suggested.ts`, module(""));
    const { code, stdout, stderr } = await suggest(`${dir}/suggested.ts`, [], env);
    const literal = `export const sandbox = {\n  net: ["127.0.0.1:${port}"],\n  read: [${
      JSON.stringify(token)
    }],\n  env: ["SUGGEST_TEST_TOKEN"],\n};\n`;
    assert.deepEqual({ code, stdout, stderr }, {
      code: 0,
      stdout: literal,
      stderr: `${PREAMBLE}suggested\n${RAN}` +
        `  used: net=127.0.0.1:${port} read=${token} env=SUGGEST_TEST_TOKEN\n` +
        `OK ${dir}/suggested.ts: it runs in a host of its own with exactly the sandbox above; declare it in the module\n`,
    });

    await Deno.writeTextFile(`${dir}/suggested.ts`, module(literal));
    const exporter = await startExporter({ metricsDir: dir, env });
    try {
      await waitForSample(exporter.url, "suggested_value", 3 * 100 + 6 * 10 + 7);
      const args = await hostArgs(exporter.process.pid, "suggested");
      assert.deepEqual(
        args?.filter((a) => a.startsWith("--allow-")),
        [
          `--allow-net=127.0.0.1:${port}`,
          `--allow-read=${dir}/suggested.ts,${token}`,
          `--allow-env=SUGGEST_TEST_TOKEN`,
        ],
      );
    } finally {
      await exporter.stop("SIGKILL");
    }
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--suggest-sandbox prints an empty sandbox for a module that uses nothing", async () => {
  const dir = await tempMetricsDir({ "idle.ts": "export function process() {}\n" });
  try {
    const { code, stdout, stderr } = await suggest(`${dir}/idle.ts`);
    assert.deepEqual({ code, stdout, stderr }, {
      code: 0,
      stdout: "export const sandbox = {};\n",
      stderr: `${PREAMBLE}idle\n${RAN}  used: none\n` +
        `OK ${dir}/idle.ts: it runs in a host of its own with exactly the sandbox above; declare it in the module\n`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--suggest-sandbox learns a module that declares a sandbox within the ceiling, not within its declaration", async () => {
  const dir = await tempMetricsDir({
    "declared.ts": `export const sandbox = { env: ["HOME"], read: ["/etc/hostname"] };
export function process() { Deno.env.get("SUGGEST_TEST_TOKEN"); }
`,
  });
  try {
    const { code, stdout, stderr } = await suggest(`${dir}/declared.ts`);
    assert.deepEqual({ code, stdout, stderr }, {
      code: 0,
      stdout: `export const sandbox = { env: ["SUGGEST_TEST_TOKEN"] };\n`,
      stderr: `${PREAMBLE}declared\n${RAN}  used: env=SUGGEST_TEST_TOKEN\n` +
        `OK ${dir}/declared.ts: it runs in a host of its own with exactly the sandbox above; declare it in the module\n`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--suggest-sandbox reports what exceeds the modules' permissions, even a denial the module swallows, and prints only the rest", async () => {
  const dir = await tempMetricsDir({
    "greedy.ts": `export function process() {
  Deno.env.get("SUGGEST_TEST_TOKEN");
  try { Deno.hostname(); } catch { /* swallowed */ }
}
`,
  });
  try {
    const { code, stdout, stderr } = await suggest(`${dir}/greedy.ts`);
    assert.deepEqual({ code, stdout, stderr }, {
      code: 1,
      stdout: `export const sandbox = { env: ["SUGGEST_TEST_TOKEN"] };\n`,
      stderr: `${PREAMBLE}greedy\n${RAN}  used: env=SUGGEST_TEST_TOKEN sys=hostname\n` +
        `  beyond the modules' permissions: --modules.allow-sys=hostname\n` +
        `FAIL ${dir}/greedy.ts: it uses more than modules may have (left out above): start the exporter with --modules.allow-sys=hostname\n`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--suggest-sandbox reports a module that fails within the modules' permissions, and prints no sandbox", async () => {
  const dir = await tempMetricsDir({
    "down.ts": `export function process() {
  Deno.env.get("SUGGEST_TEST_TOKEN");
  throw new Error("no upstream");
}
`,
  });
  try {
    const { code, stdout, stderr } = await suggest(`${dir}/down.ts`);
    assert.deepEqual({ code, stdout, stderr }, {
      code: 1,
      stdout: "",
      stderr: `${PREAMBLE}down\n${RAN}  used: env=SUGGEST_TEST_TOKEN\n` +
        `FAIL ${dir}/down.ts: process() failed: no upstream\n`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--suggest-sandbox learns each command from its denial (Deno does not audit run), within --modules.allow-run", async () => {
  const dir = await tempMetricsDir({
    "runs.ts": `export async function process() {
  await new Deno.Command("true").output();
  await new Deno.Command("false").output();
}
`,
  });
  try {
    const { code, stdout, stderr } = await suggest(`${dir}/runs.ts`, ["--modules.allow-run"]);
    assert.deepEqual({ code, stdout, stderr }, {
      code: 0,
      stdout: `export const sandbox = { run: ["true", "false"] };\n`,
      stderr: `${PREAMBLE}runs\n` +
        `  ran once, within the modules' permissions (net read env run), with Deno's permission audit: ` +
        `its import, process(); again for each command it was denied: true, false\n` +
        `  used: run=true,false\n` +
        `OK ${dir}/runs.ts: it runs in a host of its own with exactly the sandbox above; declare it in the module\n`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
