import assert from "node:assert/strict";
import { emptySandbox, type SandboxSpec } from "./sandbox.ts";
import { expandSandbox } from "./sandbox_env.ts";

const env = (values: Record<string, string>) => ({ get: (name: string) => values[name] });

function spec(read: string[]): SandboxSpec {
  const s = emptySandbox();
  s.permissions.read = read;
  return s;
}

Deno.test("expandSandbox replaces $NAME and ${NAME} anywhere in an entry", () => {
  const expanded = expandSandbox(
    spec(["$STATUS_FILE", "${DATA_DIR}/status.json", "/plain", "/a/$DATA_DIR/b"]),
    env({ STATUS_FILE: "/var/lib/backup/status.json", DATA_DIR: "/srv/data" }),
  );
  assert.deepEqual(expanded.permissions.read, [
    "/var/lib/backup/status.json",
    "/srv/data/status.json",
    "/plain",
    "/a//srv/data/b",
  ]);
});

Deno.test("expandSandbox refuses an unset or empty name, naming it", () => {
  assert.throws(() => expandSandbox(spec(["$MISSING"]), env({})), {
    name: "SandboxError",
    message: `"sandbox.read" entry "$MISSING" names $MISSING, which is not set`,
  });
  assert.throws(() => expandSandbox(spec(["${EMPTY}/x"]), env({ EMPTY: "" })), {
    message: `"sandbox.read" entry "\${EMPTY}/x" names $EMPTY, which is not set`,
  });
});

Deno.test("expandSandbox refuses a value holding a comma: it would add an entry", () => {
  assert.throws(() => expandSandbox(spec(["$TWO"]), env({ TWO: "/a,/b" })), {
    message: `"sandbox.read" entry "$TWO": the value of $TWO holds a comma; give one value per entry`,
  });
});
