import assert from "node:assert/strict";
import { join } from "node:path";
import { MAX_REEXPORT_FILES, readSandboxDeclaration } from "./declaration.ts";
import { emptySandbox, SandboxError, type SandboxSpec } from "./sandbox.ts";

/** Where the modules of the in-memory tables claim to live; nothing is read from there. */
const MODULE = "/srv/metrics/m.ts";

/** What reading `source` gives: the spec, undefined, or the SandboxError's message. */
async function outcome(source: string, file = MODULE): Promise<SandboxSpec | undefined | string> {
  try {
    return await readSandboxDeclaration(file, source);
  } catch (err) {
    if (!(err instanceof SandboxError)) throw err;
    return err.message;
  }
}

/** Each source of `table` paired with its outcome, to compare the whole table at once. */
async function outcomes<T>(table: [string, T][], file = MODULE): Promise<[string, unknown][]> {
  const out: [string, unknown][] = [];
  for (const [source] of table) out.push([source, await outcome(source, file)]);
  return out;
}

function spec(permissions: Partial<SandboxSpec["permissions"]>, memoryBytes?: number): SandboxSpec {
  const empty = emptySandbox();
  return {
    permissions: { ...empty.permissions, ...permissions },
    memoryBytes: memoryBytes ?? empty.memoryBytes,
  };
}

async function withModules(
  files: Record<string, string>,
  fn: (dir: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dx_declaration_" });
  try {
    for (const [name, source] of Object.entries(files)) {
      await Deno.mkdir(join(dir, name, ".."), { recursive: true });
      await Deno.writeTextFile(join(dir, name), source);
    }
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readSandboxDeclaration recognises the declarations the hand lexer passed over", async () => {
  const table: [string, SandboxSpec][] = [
    ["const r = /'/;\nexport const sandbox = { net: [] };", emptySandbox()],
    ["const r = /`/;\nexport const sandbox = { net: [] };", emptySandbox()],
    ["export const sandbo\\u0078 = { net: [] };", emptySandbox()],
    ['const s = { net: [] };\nexport { s as "sandbo\\u0078" };', emptySandbox()],
  ];
  assert.deepEqual(await outcomes(table), table);
});

Deno.test("readSandboxDeclaration reads a literal in every accepted form", async () => {
  const table: [string, SandboxSpec][] = [
    [
      `import { Gauge } from "prom-client";
// export const sandbox = { run: ["rm"] };  (a comment: not the declaration)
export const sandbox = {
  net: ["api.internal:443", 'db:5432'], // the API and the database
  "read": ["/var/lib/app"],
  env: [\`API_KEY\`,],
  /* memory: "1GB" */
  memory: "64MB",
};
export function process() {}`,
      spec({ net: ["api.internal:443", "db:5432"], read: ["/var/lib/app"], env: ["API_KEY"] }, 64e6),
    ],
    [`export const sandbox: Sandbox = { sys: ["hostname"] };`, spec({ sys: ["hostname"] })],
    [`export const sandbox = { net: ["a:1"] } as const;`, spec({ net: ["a:1"] })],
    [`export const sandbox = ({ net: ["a:1"] as string[] }) satisfies Sandbox;`, spec({ net: ["a:1"] })],
    [`export const sandbox = <Sandbox> { memory: 64_000_000 };`, spec({}, 64e6)],
    [`export const level = 1, sandbox = { run: ["date"] };`, spec({ run: ["date"] })],
    [`const s = { write: ["/tmp"] };\nexport { s as sandbox };`, spec({ write: ["/tmp"] })],
    [`export const s = { write: ["/tmp"] };\nexport { s as "sandbox" };`, spec({ write: ["/tmp"] })],
    [`const sandbox = { env: ["HOME"] };\nexport { sandbox };`, spec({ env: ["HOME"] })],
    [`export const sandbox = {};\nexport * from "npm:other";`, emptySandbox()],
  ];
  assert.deepEqual(await outcomes(table), table);
});

Deno.test("readSandboxDeclaration: a module exporting no sandbox value declares none", async () => {
  const table: [string, undefined][] = [
    [`export function process() {}\nconst sandbox = { net: ["x"] };`, undefined],
    [`import { sandbox } from "./x.ts";\nexport function process() {}`, undefined],
    [`export default { sandbox: {} };`, undefined],
    [`export const options = { sandbox: {} }, other = 1;`, undefined],
    [`const s = "export const sandbox = { read: ['/'] }";`, undefined],
    ["const s = `\nexport const sandbox = { read: ['/'] }\n`;", undefined],
    [`export declare const sandbox: {};`, undefined],
    [`export type sandbox = { net: string[] };`, undefined],
    [`export interface sandbox { net: string[] }`, undefined],
    [`const s = { net: ["x"] };\nexport type { s as sandbox };`, undefined],
    [`const s = { net: ["x"] };\nexport { type s as sandbox };`, undefined],
    [`export { Gauge, register } from "npm:prom-client@15";`, undefined],
    [`export type * from "npm:other";`, undefined],
    [
      `// a module, but not CommonJS: no import or export, and no exports, module or require\nconst x = 1;`,
      undefined,
    ],
  ];
  assert.deepEqual(await outcomes(table), table);
});

Deno.test("readSandboxDeclaration refuses what it cannot read before the module runs, saying how to write it", async () => {
  const literal =
    `"sandbox" must be a literal written out in the source, like { net: ["api.internal:443"] }; found`;
  const asLiteral = `"sandbox" must be exported as a literal: export const sandbox = { ... }, not`;
  const table: [string, string][] = [
    [`export const sandbox = makeSandbox();`, `${literal} a call expression at 1:24`],
    [`export const sandbox = { net: HOSTS };`, `${literal} an identifier at 1:31`],
    [
      `export const sandbox = { net: [\`\${host}:443\`] };`,
      `${literal} a template with a substitution at 1:32`,
    ],
    [`export const sandbox = { [kind]: [] };`, `${literal} a computed key at 1:27`],
    [`export const sandbox = { ...base };`, `${literal} a spread at 1:26`],
    [`export const sandbox = { net: [...hosts] };`, `${literal} a spread at 1:32`],
    [`export const sandbox = { get net() { return []; } };`, `${literal} a method at 1:26`],
    [`export const sandbox = { net: ["a",, "b"] };`, `${literal} a hole in a list at 1:31`],
    [`export const sandbox = { 1: [] };`, `${literal} a key that is not a name or a string at 1:26`],
    [
      `export const sandbox = { nett: ["x"] };`,
      `"sandbox" has an unknown key "nett"; use net, read, env, run, write, sys or memory`,
    ],
    [`export const sandbox = { net: [""] };`, `"sandbox.net" must be a list of non-empty strings`],
    [
      `export const sandbox = { memory: "1MB" };`,
      `"sandbox.memory" must be a size of at least 16MiB, like "256MB"`,
    ],
    [`export const sandbox = ["net"];`, `"sandbox" must be an object like { net: ["api.internal:443"] }`],
    [
      `export let sandbox = {};`,
      `"sandbox" must be declared with const: export const sandbox = { ... }, not let (at 1:8)`,
    ],
    [
      `export var a, sandbox = {};`,
      `"sandbox" must be declared with const: export const sandbox = { ... }, not var (at 1:8)`,
    ],
    [`export const { sandbox } = { sandbox: {} };`, `${asLiteral} by a destructuring (at 1:14)`],
    [`export const [sandbox] = [{}];`, `${asLiteral} by a destructuring (at 1:14)`],
    [`export function sandbox() {}`, `${asLiteral} a function (at 1:8)`],
    [`export class sandbox {}`, `${asLiteral} a class (at 1:8)`],
    [`export enum sandbox { A }`, `${asLiteral} an enum (at 1:8)`],
    [`export namespace sandbox { export const net = []; }`, `${asLiteral} a namespace (at 1:8)`],
    [
      `namespace N { export const x = {}; }\nexport import sandbox = N.x;`,
      `${asLiteral} an import alias (at 2:1)`,
    ],
    [`export * as sandbox from "./x.ts";`, `${asLiteral} a namespace re-export (at 1:8)`],
    [`export * as "sandbox" from "./x.ts";`, `${asLiteral} a namespace re-export (at 1:8)`],
    [
      `import { x } from "./x.ts";\nexport { x as sandbox };`,
      `"sandbox" must be exported as a literal: "x" is an import, not a top-level const with a literal value (at 2:10)`,
    ],
    [
      `let x = {};\nexport { x as sandbox };`,
      `"sandbox" must be exported as a literal: "x" is a let, not a top-level const with a literal value (at 2:10)`,
    ],
    [
      `function x() {}\nexport { x as sandbox };`,
      `"sandbox" must be exported as a literal: "x" is a function, not a top-level const with a literal value (at 2:10)`,
    ],
    [`const x = make();\nexport { x as sandbox };`, `${literal} a call expression at 1:11`],
    ...["npm:other", "prom-client", "jsr:@std/path", "https://example.com/x.ts", "data:text/javascript,"].map(
      (
        from,
      ): [string, string] => [
        `export * from "${from}";`,
        `"sandbox" could come from export * from "${from}" (at 1:1), which is not a local file and cannot be ` +
        `read before the module runs; re-export the names you need by name, or declare the sandbox in the ` +
        `module itself: export const sandbox = { ... }`,
      ],
    ),
    [
      `export { sandbox } from "npm:other";`,
      `"sandbox" is re-exported from "npm:other" (at 1:10), which is not a local file and cannot be read before ` +
      `the module runs; declare the sandbox in the module itself: export const sandbox = { ... }`,
    ],
    ...[
      `exports.sandbox = { net: [] };\nexports.process = () => {};`,
      `expor\\u0074s.sandbox = {};`,
      `import type { T } from "./t.ts";\nmodule.exports = { sandbox: {} };`,
    ].map((source): [string, string] => [
      source,
      `the module has no ES import or export and uses exports, module or require: Deno may load it as ` +
      `CommonJS, whose exports cannot be read before it runs; write ES exports: export const sandbox = { ... }`,
    ]),
    [
      `const s = { sandbox: {} };\nexport = s;`,
      `the module uses \`export =\`, which makes CommonJS exports that cannot be read before it runs; ` +
      `write ES exports: export const sandbox = { ... }`,
    ],
    [
      `export const sandbox = {\n  net: [],\n`,
      `SyntaxError: Unexpected token (at 3:1, parsing the module for the sandbox declaration)`,
    ],
    [
      `const sandbox = {};\nexport { sandbox };\nexport { sandbox };`,
      `"sandbox" is exported more than once in the module; export it once: export const sandbox = { ... }`,
    ],
  ];
  assert.deepEqual(await outcomes(table), table);
});

Deno.test("readSandboxDeclaration's syntax error in the module carries its line and column, for the load error", async () => {
  const err = await readSandboxDeclaration(MODULE, `export function process() {\n  const x = ;\n}\n`).catch((
    e,
  ) => e);
  assert.ok(err instanceof SandboxError);
  assert.deepEqual([err.message, err.line, err.column], [
    `SyntaxError: Unexpected token (at 2:13, parsing the module for the sandbox declaration)`,
    2,
    13,
  ]);
});

Deno.test("readSandboxDeclaration parses a .js module as JavaScript: type syntax there fails, as it does in Deno", async () => {
  assert.deepEqual(await outcome(`export const sandbox = { net: [] };`, "/srv/metrics/m.js"), emptySandbox());
  assert.equal(
    await outcome(`export const sandbox: {} = {};`, "/srv/metrics/m.js"),
    `SyntaxError: Missing initializer in const declaration. (at 1:21, parsing the module for the sandbox declaration)`,
  );
});

Deno.test("readSandboxDeclaration follows local re-exports through export *, names and cycles", async () => {
  await withModules({
    "lib/a.ts": `export * from "./b.ts";\nexport const a = 1;`,
    "lib/b.ts": `export * from "./a.ts";\nexport const sandbox = { net: ["b:1"] };`,
    "lib/c.ts": `const t = { read: ["/c"] };\nexport { t as s };`,
    "lib/d.ts": `export * from "./e.ts";`,
    "lib/e.ts": `export * from "./d.ts";\nexport { Gauge } from "npm:prom-client@15";`,
  }, async (dir) => {
    const m = join(dir, "m.ts");
    const table: [string, SandboxSpec | undefined][] = [
      [`export * from "./lib/a.ts";`, spec({ net: ["b:1"] })],
      [`export { sandbox } from "./lib/b.ts";`, spec({ net: ["b:1"] })],
      [`export { s as sandbox } from "./lib/c.ts";`, spec({ read: ["/c"] })],
      [`export { s as "sandbox" } from "./lib/c.ts";`, spec({ read: ["/c"] })],
      [`export { sandbox } from "file://${dir}/lib/a.ts";`, spec({ net: ["b:1"] })],
      // Both roads lead to one binding: not ambiguous.
      [`export * from "./lib/a.ts";\nexport * from "./lib/b.ts";`, spec({ net: ["b:1"] })],
      // The module's own export hides what export * would bring.
      [`export const sandbox = {};\nexport * from "./lib/b.ts";`, emptySandbox()],
      [`export * from "./lib/d.ts";\nexport function process() {}`, undefined],
    ];
    assert.deepEqual(await outcomes(table, m), table);
    assert.deepEqual(
      await outcome(`export { sandbox } from "../lib/b.ts";`, join(dir, "sub/m.ts")),
      spec({ net: ["b:1"] }),
    );
  });
});

Deno.test("readSandboxDeclaration refuses a re-export it cannot follow to a literal", async () => {
  await withModules({
    "lib/one.ts": `export const sandbox = { net: ["one:1"] };`,
    "lib/two.ts": `export const sandbox = { net: ["two:1"] };`,
    "lib/npm.ts": `export * from "npm:other";`,
    "lib/broken.ts": `export const = 1;`,
    "lib/let.ts": `export let s = {};`,
    "lib/loop_a.ts": `export { sandbox } from "./loop_b.ts";`,
    "lib/loop_b.ts": `export { sandbox } from "./loop_a.ts";`,
  }, async (dir) => {
    const gone = await Deno.stat(join(dir, "lib/gone.ts")).catch((err) => err.message);
    const table: [string, string][] = [
      [
        `export * from "./lib/one.ts";\nexport * from "./lib/two.ts";`,
        `"sandbox" comes from more than one export * in the module ("./lib/one.ts" and "./lib/two.ts"); ` +
        `export it once: export const sandbox = { ... }`,
      ],
      [
        `export * from "./lib/npm.ts";`,
        `"sandbox" could come from export * from "npm:other" (at lib/npm.ts:1:1), which is not a local file and ` +
        `cannot be read before the module runs; re-export the names you need by name, or declare the sandbox ` +
        `in the module itself: export const sandbox = { ... }`,
      ],
      [
        `export * from "./lib/gone.ts";`,
        `"sandbox" could come from "lib/gone.ts", which cannot be read: ${gone}`,
      ],
      [
        `export * from "./lib/x.cjs";`,
        `"sandbox" could come from "lib/x.cjs", a CommonJS file, whose exports cannot be read before it runs; ` +
        `declare the sandbox in the module itself: export const sandbox = { ... }`,
      ],
      [
        `export * from "./lib/x.wasm";`,
        `"sandbox" could come from "lib/x.wasm", which is not a .ts, .mts, .js or .mjs file the exporter can ` +
        `read; declare the sandbox in the module itself: export const sandbox = { ... }`,
      ],
      [
        `export * from "./lib/broken.ts";`,
        `SyntaxError: Unexpected token (at lib/broken.ts:1:14, parsing "lib/broken.ts" for the sandbox declaration)`,
      ],
      [
        `export { s as sandbox } from "./lib/let.ts";`,
        `"s" must be declared with const: export const sandbox = { ... }, not let (at lib/let.ts:1:8)`,
      ],
      [
        `export { other as sandbox } from "./lib/one.ts";`,
        `"sandbox" is re-exported from "./lib/one.ts" (at 1:10), which exports no "other"`,
      ],
      [
        `export { sandbox } from "./lib/loop_a.ts";`,
        `"sandbox" is re-exported from "./loop_a.ts" (at lib/loop_b.ts:1:10), which exports no "sandbox"`,
      ],
    ];
    assert.deepEqual(await outcomes(table, join(dir, "m.ts")), table);
  });
});

Deno.test("readSandboxDeclaration stops after a bounded number of re-exported files", async () => {
  const files: Record<string, string> = {};
  for (let i = 0; i < MAX_REEXPORT_FILES + 5; i++) files[`lib/${i}.ts`] = `export * from "./${i + 1}.ts";`;
  await withModules(files, async (dir) => {
    assert.equal(
      await outcome(`export * from "./lib/0.ts";`, join(dir, "m.ts")),
      `"sandbox" could not be looked up: its re-exports lead through more than ${MAX_REEXPORT_FILES} files; ` +
        `declare the sandbox in the module itself: export const sandbox = { ... }`,
    );
  });
});
