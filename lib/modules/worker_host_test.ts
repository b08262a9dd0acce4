import assert from "node:assert/strict";
import { describeError } from "./describe_error.ts";
import { deserializeError, sandboxHint } from "./worker_host.ts";

Deno.test("sandboxHint names the sandbox entry a denied permission needs", () => {
  assert.equal(
    sandboxHint(`Requires net access to "api.internal:443", run again with the --allow-net flag`),
    `declare it in the module's sandbox export: net: ["api.internal:443"]`,
  );
  assert.equal(sandboxHint("something else"), undefined);
});

Deno.test("deserializeError rebuilds a Worker's error so describeError finds its line and sandbox hint", () => {
  const err = deserializeError({
    name: "NotCapable",
    message: `Requires env access to "API_KEY", run again with the --allow-env flag`,
    stack: `NotCapable: Requires env access\n    at process (file:///srv/metrics/api.ts:4:20)`,
  });
  assert.ok(err instanceof Deno.errors.NotCapable);
  assert.deepEqual(describeError(err, "file:///srv/metrics/api.ts"), {
    message: `Requires env access to "API_KEY", run again with the --allow-env flag`,
    line: 4,
    column: 20,
    hint: `declare it in the module's sandbox export: env: ["API_KEY"]`,
  });
  const timeout = deserializeError({
    name: "Error",
    message: "timed out",
    code: "ERR_SCRIPT_EXECUTION_TIMEOUT",
  });
  assert.equal((timeout as { code?: string }).code, "ERR_SCRIPT_EXECUTION_TIMEOUT");
});
