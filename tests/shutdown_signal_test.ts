/**
 * End to end: a stop signal at the earliest moment an operator can send one. Issue 18, defect 7: a
 * SIGTERM right after the `listening` line, before main.ts installed its listeners, killed the
 * exporter with the default action (exit 143), skipping every dispose().
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startTaskFlags, tempMetricsDir } from "./_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RUNS = 10;

/**
 * Runs main.ts and sends `signal` in the same turn as the chunk of stderr that holds the
 * `listening` line arrives; resolves the exit code and everything written to stderr.
 */
async function signalWhenListening(
  dir: string,
  signal: Deno.Signal,
): Promise<{ code: number; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...await startTaskFlags(),
      `${ROOT}/main.ts`,
      "--web.listen-address=127.0.0.1:0",
      `--metrics.dir=${dir}`,
      "--log.format=json",
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let stderr = "";
  let sent = false;
  for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
    stderr += chunk;
    if (!sent && stderr.includes('"msg":"listening"')) {
      child.kill(signal);
      sent = true;
    }
  }
  const { code } = await child.status;
  return { code, stderr };
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`${signal} sent the moment the exporter logs "listening" stops it cleanly, ${RUNS} runs`, async () => {
    const dir = await tempMetricsDir({ "m.ts": `export function process() {}\n` });
    try {
      for (let run = 1; run <= RUNS; run++) {
        const { code, stderr } = await signalWhenListening(dir, signal);
        assert.ok(stderr.includes('"msg":"listening"'), `run ${run}: never listened:\n${stderr}`);
        assert.equal(code, 0, `run ${run}: exit code ${code}:\n${stderr}`);
        assert.match(stderr, /"msg":"stopped"/, `run ${run}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
