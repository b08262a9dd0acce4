/**
 * End to end, issue 18: SIGHUP re-reads --env-file and the modules see the new values; a sandbox
 * entry may name a setting (`read: ["$DATA_FILE"]`).
 */

import assert from "node:assert/strict";
import { scrape, waitFor, withExporter } from "./_server.ts";

Deno.test("after the env file is edited, SIGHUP gives every module the new value within 5 s, sandboxed ones too", async () => {
  const envDir = await Deno.makeTempDir({ prefix: "dx_env_" });
  const envFile = `${envDir}/env`;
  await Deno.writeTextFile(envFile, "QUEUE_LIMIT=1\n");
  const module = (name: string, sandbox: string) =>
    `import { Gauge } from "prom-client";
const g = new Gauge({ name: "${name}_limit", help: "h" });
${sandbox}
export const interval = "200ms";
export function process() { g.set(Number(Deno.env.get("QUEUE_LIMIT"))); }
`;
  const files = {
    "shared.ts": module("shared", ""),
    "boxed.ts": module("boxed", `export const sandbox = { env: ["QUEUE_LIMIT"] };`),
  };
  try {
    await withExporter(files, async (e) => {
      await waitFor(async () => {
        const s = await scrape(e.url);
        return s.get("shared_limit") === 1 && s.get("boxed_limit") === 1;
      }, { timeoutMs: 20_000 });
      await Deno.writeTextFile(envFile, "QUEUE_LIMIT=2\n");
      e.process.kill("SIGHUP");
      let samples = new Map<string, number>();
      await waitFor(async () => {
        samples = await scrape(e.url);
        return samples.get("shared_limit") === 2 && samples.get("boxed_limit") === 2;
      }, {
        timeoutMs: 5000,
        message: () => `shared ${samples.get("shared_limit")}, boxed ${samples.get("boxed_limit")}`,
      });
      assert.ok(e.logs.some((r) => r.msg === "env file reloaded" && r.set === "QUEUE_LIMIT"));
    }, { args: [`--env-file=${envFile}`] });
  } finally {
    await Deno.remove(envDir, { recursive: true });
  }
});

Deno.test("a sandbox entry naming a setting reads the file the env file names; an unset name is a load error naming it", async () => {
  const envDir = await Deno.makeTempDir({ prefix: "dx_env_" });
  await Deno.writeTextFile(`${envDir}/status.json`, JSON.stringify({ age: 42 }));
  await Deno.writeTextFile(`${envDir}/env`, `DATA_FILE=${envDir}/status.json\n`);
  const module = (name: string, entry: string) =>
    `import { Gauge } from "prom-client";
const g = new Gauge({ name: "${name}_age", help: "h" });
export const sandbox = { read: [${JSON.stringify(entry)}], env: ["DATA_FILE"] };
export function process() { g.set(JSON.parse(Deno.readTextFileSync(Deno.env.get("DATA_FILE")!)).age); }
`;
  const files = { "status.ts": module("status", "$DATA_FILE"), "unset.ts": module("unset", "${NOT_SET}/x") };
  try {
    await withExporter(files, async (e) => {
      await waitFor(async () => (await scrape(e.url)).get("status_age") === 42, { timeoutMs: 20_000 });
      const failed = await e.waitForLog((r) => r.msg === "module load failed" && r.module === "unset");
      assert.equal(failed.err, `"sandbox.read" entry "\${NOT_SET}/x" names $NOT_SET, which is not set`);
    }, { args: [`--env-file=${envDir}/env`] });
  } finally {
    await Deno.remove(envDir, { recursive: true });
  }
});
