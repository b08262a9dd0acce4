/** `deno task check-module <file>`: the task as users run it, on real files. */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { gaugeModule, tempMetricsDir } from "./_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

async function checkModule(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--quiet", "check-module", file],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code, stdout: text(stdout), stderr: text(stderr) };
}

Deno.test("check-module prints a good module's exposition and exits 0", async () => {
  const dir = await tempMetricsDir({ "good.ts": gaugeModule("good_value", 5) });
  try {
    const { code, stdout, stderr } = await checkModule(`${dir}/good.ts`);
    assert.equal(stdout, "# HELP good_value test gauge good_value\n# TYPE good_value gauge\ngood_value 5\n");
    assert.match(stderr, new RegExp(`^OK ${dir}/good.ts: 1 metric family, process\\(\\) took [0-9.]+ms\\n$`));
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
      ["noproc.ts", `Cannot load module "noproc" (${dir}/noproc.ts): it exports no process() function`],
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
