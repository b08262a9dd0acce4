import assert from "node:assert/strict";
import { localImports, localSpecifiers } from "./local_imports.ts";

Deno.test("localSpecifiers finds static, re-exported, type and dynamic imports of local files only", () => {
  const source = `import { Gauge } from "prom-client";
import { a } from "./lib/a.ts";
import * as b from '../shared/b.ts';
import type { T } from "./types.ts";
export { c } from "./c.ts";
import "./side_effect.ts";
const d = await import("./d.ts");
import x from "npm:lodash@4";
import y from "https://example.com/y.ts";
import z from "file:///etc/z.ts";
const computed = await import(\`./\${name}.ts\`);
`;
  assert.deepEqual(localSpecifiers(source, "/srv/metrics/m.ts"), [
    "/srv/metrics/lib/a.ts",
    "/srv/shared/b.ts",
    "/srv/metrics/types.ts",
    "/srv/metrics/c.ts",
    "/srv/metrics/side_effect.ts",
    "/srv/metrics/d.ts",
    "/etc/z.ts",
  ]);
});

Deno.test("localImports follows helpers transitively, once each, through cycles and missing files", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dx_imports_" });
  try {
    await Deno.mkdir(`${dir}/lib`);
    await Deno.writeTextFile(`${dir}/lib/a.ts`, `import { b } from "./b.ts";\nexport const a = b;\n`);
    await Deno.writeTextFile(
      `${dir}/lib/b.ts`,
      `import { a } from "./a.ts";\nimport "./gone.ts";\nexport const b = 1;\n`,
    );
    const source = `import { a } from "./lib/a.ts";\nimport { b } from "./lib/b.ts";\n`;
    assert.deepEqual(await localImports(`${dir}/m.ts`, source), [
      `${dir}/lib/a.ts`,
      `${dir}/lib/b.ts`,
      `${dir}/lib/gone.ts`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
