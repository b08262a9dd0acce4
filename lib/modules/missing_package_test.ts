import assert from "node:assert/strict";
import { describeMissingPackage } from "./missing_package.ts";

const message = (what: string) =>
  `cannot import ${what}: the exporter does not download packages at run time`;

Deno.test("describeMissingPackage names the package in each of Deno's errors for an import not installed", () => {
  const cases: [string, string][] = [
    [
      `Failed loading https://registry.npmjs.org/lodash for package "lodash"\n    0: npm package not found in ` +
      `cache: "lodash", --cached-only is specified.\n    at file:///m/a.ts:1:15`,
      message(`npm package "lodash"`),
    ],
    [
      "The lockfile is out of date. Run `deno install --frozen=false`, or rerun with `--frozen=false` to update " +
      `it.\nchanges:\n 6 | +    "npm:lodash@4": "4.17.21",\n   | ...\n29 | +    "lodash@4.17.21": {`,
      message(`"npm:lodash@4"`),
    ],
    [
      `Specifier not found in cache: "https://example.com/mod.ts", --cached-only is specified.`,
      message(`"https://example.com/mod.ts"`),
    ],
  ];
  for (const [text, want] of cases) assert.equal(describeMissingPackage(text)?.message, want);
  assert.match(describeMissingPackage(cases[0][0])!.hint, /deno\.json's "imports", run `deno install`/);
});

Deno.test("describeMissingPackage leaves other errors alone", () => {
  assert.equal(describeMissingPackage('Module not found "file:///m/helper.ts".'), undefined);
  assert.equal(describeMissingPackage("boom"), undefined);
});
