import assert from "node:assert/strict";
import nodeProcess, { exit as namedExit } from "node:process";
import { installExitGuard, ModuleExitError } from "./exit_guard.ts";

Deno.test("installExitGuard makes every way for a module to end the process throw, and restore() undoes it", () => {
  const originals = [Deno.exit, Deno.kill, nodeProcess.exit, nodeProcess.kill, nodeProcess.abort];
  const exitCode = Deno.exitCode;
  const guard = installExitGuard();
  try {
    const refused: [() => unknown, string][] = [
      [() => Deno.exit(1), "Deno.exit()"],
      [() => nodeProcess.exit(), "process.exit()"],
      [() => namedExit(0), "process.exit()"],
      [() => nodeProcess.abort(), "process.abort()"],
      [() => Deno.kill(Deno.pid, "SIGKILL"), "Deno.kill() of the exporter's own process"],
      [() => Deno.kill(0, "SIGKILL"), "Deno.kill() of the exporter's own process"],
      [() => nodeProcess.kill(nodeProcess.pid, "SIGKILL"), "process.kill() of the exporter's own process"],
    ];
    for (const [call, api] of refused) {
      assert.throws(call, new ModuleExitError(api));
    }
    assert.equal(
      new ModuleExitError("Deno.exit()").message,
      "Deno.exit() is not allowed in a module; the exporter keeps running",
    );
    assert.notEqual(guard.exit, Deno.exit);
  } finally {
    guard.restore();
    Deno.exitCode = exitCode;
  }
  assert.deepEqual([Deno.exit, Deno.kill, nodeProcess.exit, nodeProcess.kill, nodeProcess.abort], originals);
});
