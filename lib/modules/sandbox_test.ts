import assert from "node:assert/strict";
import {
  checkCeiling,
  DEFAULT_MEMORY_BYTES,
  emptySandbox,
  readSandboxDeclaration,
  SandboxError,
  workerPermissions,
} from "./sandbox.ts";

Deno.test("readSandboxDeclaration reads a literal with bare and quoted keys, comments and trailing commas", () => {
  const source = `import { Gauge } from "prom-client";
// export const sandbox = { run: ["rm"] };  (a comment: not the declaration)
export const sandbox = {
  net: ["api.internal:443", 'db:5432'], // the API and the database
  "read": ["/var/lib/app"],
  env: ["API_KEY",],
  /* memory: "1GB" */
  memory: "64MB",
};
export function process() {}
`;
  assert.deepEqual(readSandboxDeclaration(source), {
    permissions: {
      net: ["api.internal:443", "db:5432"],
      read: ["/var/lib/app"],
      env: ["API_KEY"],
      run: [],
      write: [],
      sys: [],
    },
    memoryBytes: 64e6,
  });
});

Deno.test("readSandboxDeclaration: no declaration is undefined; an empty one denies everything", () => {
  assert.equal(
    readSandboxDeclaration(`export function process() {}\nconst sandbox = { net: ["x"] };`),
    undefined,
  );
  assert.deepEqual(readSandboxDeclaration(`export const sandbox = {};`), emptySandbox());
  assert.equal(emptySandbox().memoryBytes, DEFAULT_MEMORY_BYTES);
  assert.deepEqual(
    readSandboxDeclaration(`export const sandbox: Sandbox = { sys: ["hostname"] };`)?.permissions.sys,
    ["hostname"],
  );
});

Deno.test("readSandboxDeclaration refuses what it cannot read statically, saying why", () => {
  const table: [string, string][] = [
    [
      `export const sandbox = makeSandbox();`,
      `"sandbox" must be a literal object of string lists (unexpected "makeSandbox(")`,
    ],
    [
      `export const sandbox = { net: HOSTS };`,
      `"sandbox" must be a literal object of string lists (unexpected "HOSTS };")`,
    ],
    [
      `export const sandbox = { nett: ["x"] };`,
      `"sandbox" has an unknown key "nett"; use net, read, env, run, write, sys or memory`,
    ],
    [`export const sandbox = { net: "x" };`, `"sandbox.net" must be a list of non-empty strings`],
    [`export const sandbox = { net: [""] };`, `"sandbox.net" must be a list of non-empty strings`],
    [
      `export const sandbox = { memory: "1MB" };`,
      `"sandbox.memory" must be a size of at least 16MiB, like "256MB"`,
    ],
    [`export const sandbox = ["net"];`, `"sandbox" must be an object like { net: ["api.internal:443"] }`],
    [
      `const s = {};\nexport { s as sandbox };`,
      `"sandbox" must be exported as a literal: export const sandbox = { ... }`,
    ],
  ];
  assert.deepEqual(
    table.map(([source]) => {
      try {
        readSandboxDeclaration(source);
        return [source, "no error"];
      } catch (err) {
        assert.ok(err instanceof SandboxError);
        return [source, err.message];
      }
    }),
    table,
  );
});

Deno.test("workerPermissions grants exactly the declaration, plus reading the metrics dir", () => {
  const spec = readSandboxDeclaration(`export const sandbox = { net: ["a:1"], read: ["/etc/hostname"] };`)!;
  assert.deepEqual(workerPermissions(spec, "/srv/metrics"), {
    net: ["a:1"],
    read: ["/srv/metrics", "/etc/hostname"],
    env: false,
    run: false,
    write: false,
    sys: false,
    ffi: false,
    import: false,
  });
});

Deno.test("checkCeiling names the flag the exporter lacks for a declared permission", async () => {
  // The test runner holds --allow-read, --allow-net, --allow-env, --allow-run, --allow-write, not --allow-sys.
  await checkCeiling(readSandboxDeclaration(`export const sandbox = { read: ["/etc"], net: ["x:1"] };`)!);
  await assert.rejects(
    () => checkCeiling(readSandboxDeclaration(`export const sandbox = { sys: ["hostname"] };`)!),
    {
      name: "SandboxError",
      message:
        "its sandbox asks for more than the exporter holds: add --allow-sys=hostname (or the broader " +
        "flag) to the exporter's permission flags (for the binary: to the compile task, which bakes them in)",
    },
  );
});
