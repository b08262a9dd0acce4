/**
 * End to end: an --env-file an attacker or an accident shaped (issue 18, defect 5). Each is one
 * line on stderr naming the flag, the file and what is wrong, exit 2, and never a value: a NUL
 * byte ended in an uncaught TypeError quoting the secret, a 64 MB file held the start for 25 s.
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startTaskFlags, tempMetricsDir } from "./_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SECRET = "hunter2";

/** Runs main.ts to its end with the start task's permissions, or fails after `timeoutMs`. */
async function runMain(args: string[], timeoutMs = 20_000): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...await startTaskFlags(), `${ROOT}/main.ts`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // A read that blocks (a FIFO) must fail the test, not hang it.
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  try {
    const { code, stderr } = await child.output();
    return { code, stderr: new TextDecoder().decode(stderr) };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("--env-file with a NUL byte, over 1 MiB or not a regular file exits 2 with one line and no value", async () => {
  const dir = await tempMetricsDir({
    "m.ts": `export function process() {}\n`,
    "nul.env": `OK=1\nSECRET_TOKEN=${SECRET}\0tail\n`,
    // 64 MiB, as in the issue: refused by its size, before a byte of it is read.
    "huge.env": `SECRET_TOKEN=${SECRET}\n` + "#".repeat(64 * 1024 * 1024) + "\n",
  });
  try {
    const mkfifo = await new Deno.Command("mkfifo", { args: [`${dir}/fifo.env`] }).output();
    assert.equal(mkfifo.code, 0);
    const cases: [string, string][] = [
      ["nul.env", "line 2 holds a NUL byte, which no environment variable can hold"],
      ["huge.env", "is 64.0 MiB, over the 1 MiB limit"],
      ["fifo.env", "is a FIFO, not a regular file"],
    ];
    for (const [file, reason] of cases) {
      const line = `dynamic_exporter: --env-file: "${dir}/${file}" ${reason}\n`;
      const serve = await runMain([
        `--metrics.dir=${dir}`,
        "--web.listen-address=127.0.0.1:0",
        `--env-file=${dir}/${file}`,
      ]);
      assert.deepEqual(serve, { code: 2, stderr: line }, file);
      const check = await runMain(["check", `${dir}/m.ts`, `--env-file=${dir}/${file}`]);
      assert.deepEqual(check, { code: 2, stderr: line }, `check with ${file}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
