import assert from "node:assert/strict";
import { DEFAULT_MEMORY_BYTES, emptySandbox, readSandboxDeclaration, SandboxError } from "./sandbox.ts";

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

Deno.test("readSandboxDeclaration keeps its place past regexes and templates holding comment marks or quotes", () => {
  const empty = emptySandbox();
  const declared = (before: string, after = "") =>
    readSandboxDeclaration(`${before}\nexport const sandbox = {};\n${after}\nexport function process() {}`);
  assert.deepEqual(declared("const open = /a\\/*/;", "const close = /b*/;"), empty);
  assert.deepEqual(declared("const open = `${`/*`}`;", "const close = `*/`;"), empty);
  assert.deepEqual(declared("const q = /[\"'`]/g;", 'const r = "\'";'), empty);
  assert.deepEqual(declared("const half = total / 2 / count; // ok"), empty);
  // A declaration in a string or a template is text, not an export.
  assert.equal(readSandboxDeclaration(`const s = "export const sandbox = { read: ['/'] }";`), undefined);
  assert.equal(readSandboxDeclaration("const s = `\nexport const sandbox = { read: ['/'] }\n`;"), undefined);
});

Deno.test("readSandboxDeclaration refuses every other way of exporting sandbox", () => {
  for (
    const source of [
      `export const level = 1, sandbox = {};`,
      `export let a, sandbox;`,
      `export const { sandbox } = { sandbox: {} };`,
      `export const [sandbox] = [{}];`,
      `export function sandbox() {}`,
      `export class sandbox {}`,
      `export * as sandbox from "./x.ts";`,
      `export * as "sandbox" from "./x.ts";`,
      `const x = {};\nexport { x as "sandbox" };`,
    ]
  ) {
    assert.throws(
      () => readSandboxDeclaration(source),
      new SandboxError(`"sandbox" must be exported as a literal: export const sandbox = { ... }`),
      source,
    );
  }
  // Not exports of sandbox: a local, an import, a property.
  for (
    const source of [
      `const sandbox = 1;`,
      `import { sandbox } from "./x.ts";`,
      `export default { sandbox: {} };`,
      `export const options = { sandbox: {} }, other = 1;`,
      `export declare const sandbox: {};`,
    ]
  ) {
    assert.equal(readSandboxDeclaration(source), undefined, source);
  }
});
