import assert from "node:assert/strict";
import { readSandboxDeclaration } from "./declaration.ts";
import { DEFAULT_MEMORY_BYTES, emptySandbox, SandboxError, sandboxLiteral, sandboxSpec } from "./sandbox.ts";

Deno.test("sandboxSpec makes a spec of the declared lists and size, each kind left out denied", () => {
  assert.deepEqual(sandboxSpec({ net: ["a:1", "a:1", "b:2"], env: [], memory: "64MB" }), {
    permissions: { net: ["a:1", "b:2"], read: [], env: [], run: [], write: [], sys: [] },
    memoryBytes: 64e6,
  });
  assert.deepEqual(sandboxSpec({}), emptySandbox());
  assert.equal(emptySandbox().memoryBytes, DEFAULT_MEMORY_BYTES);
  assert.equal(sandboxSpec({ memory: "1GiB" }).memoryBytes, 1024 ** 3);
  assert.equal(sandboxSpec({ memory: 32 * 1024 ** 2 }).memoryBytes, 32 * 1024 ** 2);
});

Deno.test("sandboxSpec refuses an unknown key or a value of the wrong kind, saying which", () => {
  const table: [unknown, string][] = [
    [{ nett: ["x"] }, `"sandbox" has an unknown key "nett"; use net, read, env, run, write, sys or memory`],
    [{ net: "x" }, `"sandbox.net" must be a list of non-empty strings`],
    [{ net: [""] }, `"sandbox.net" must be a list of non-empty strings`],
    [{ read: [1] }, `"sandbox.read" must be a list of non-empty strings`],
    [{ memory: "1MB" }, `"sandbox.memory" must be a size of at least 16MiB, like "256MB"`],
    [{ memory: "lots" }, `"sandbox.memory" must be a size of at least 16MiB, like "256MB"`],
    [["net"], `"sandbox" must be an object like { net: ["api.internal:443"] }`],
    [null, `"sandbox" must be an object like { net: ["api.internal:443"] }`],
  ];
  assert.deepEqual(
    table.map(([value]) => {
      try {
        sandboxSpec(value);
        return [value, "no error"];
      } catch (err) {
        assert.ok(err instanceof SandboxError);
        return [value, err.message];
      }
    }),
    table,
  );
});

Deno.test("sandboxSpec refuses an entry holding a comma: it would add an entry to the host's flag", () => {
  assert.throws(() => sandboxSpec({ read: ["/a,/b"] }), {
    name: "SandboxError",
    message: `"sandbox.read" entry "/a,/b" holds a comma; give one value per entry`,
  });
});

Deno.test("sandboxLiteral writes the kinds in their order, leaves out empty ones, and declaration.ts reads it back", async () => {
  const permissions = { env: ["API_TOKEN"], read: ['/srv/a "b".json'], net: ["127.0.0.1:4000"], run: [] };
  const literal = sandboxLiteral(permissions);
  assert.equal(
    literal,
    `export const sandbox = { net: ["127.0.0.1:4000"], read: ["/srv/a \\"b\\".json"], env: ["API_TOKEN"] };`,
  );
  assert.deepEqual(await readSandboxDeclaration("/m/x.ts", `${literal}\nexport function process() {}\n`), {
    ...emptySandbox(),
    permissions: { ...emptySandbox().permissions, ...permissions },
  });
  assert.equal(sandboxLiteral({}), "export const sandbox = {};");
  assert.deepEqual(await readSandboxDeclaration("/m/x.ts", "export const sandbox = {};\n"), emptySandbox());
});

Deno.test("sandboxLiteral puts one kind a line past deno fmt's line width", () => {
  const read = ["/srv/app/a-rather-long-file-name.json", "/srv/app/another-rather-long-file-name.json"];
  assert.equal(
    sandboxLiteral({ read, env: ["A"] }),
    `export const sandbox = {\n  read: ["${read[0]}", "${read[1]}"],\n  env: ["A"],\n};`,
  );
});
