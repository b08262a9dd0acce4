import assert from "node:assert/strict";
import { EnvFileError, loadEnvFile, parseEnvFile } from "./env_file.ts";

// The values `deno run --env-file` (2.9.6) gives for the same lines, measured, except G: Deno
// expands `$A` there with the file's last A ("2") although A itself keeps its first value.
const SAMPLE = `# comment
A=1
A=2
B="x y" # trailing
C='single $A'
export D=exported
E="line1\\nline2"
F=un quoted value # c
G=$A-exp
H="\${A}br"
  I = spaced  
J=a#b
K=
L="multi
line"
M="a \\"quoted\\" \\$A"
`;

Deno.test("parseEnvFile reads a .env file as Deno's --env-file does", () => {
  assert.deepEqual(
    Object.fromEntries(parseEnvFile(SAMPLE)),
    {
      A: "1",
      B: "x y",
      C: "single $A",
      D: "exported",
      E: "line1\nline2",
      F: "un quoted value",
      G: "1-exp",
      H: "1br",
      I: "spaced",
      J: "a",
      K: "",
      L: "multi\nline",
      M: 'a "quoted" $A',
    },
  );
});

Deno.test("parseEnvFile expands a name from the environment before the file", () => {
  assert.deepEqual(
    Object.fromEntries(parseEnvFile("URL=http://$HOST:${PORT}/x\n", (k) => ({ HOST: "h" })[k])),
    { URL: "http://h:/x" },
  );
});

Deno.test("parseEnvFile names the line that is not KEY=VALUE", () => {
  const cases: [string, string][] = [
    [
      "A=1\nthis is bad\n",
      "line 2 is not KEY=VALUE (a name of letters, digits and _, then =, then the value)",
    ],
    ["1A=x\n", "line 1 is not KEY=VALUE (a name of letters, digits and _, then =, then the value)"],
    ["=x\n", "line 1 is not KEY=VALUE (a name of letters, digits and _, then =, then the value)"],
    ['A=1\nB="open\nC=2\n', `line 2: the value's " quote is never closed`],
    ["A='x' y\n", "line 1: unexpected text after the quoted value"],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseEnvFile(text), { name: "EnvFileError", message }, JSON.stringify(text));
  }
});

Deno.test("loadEnvFile sets the file's variables and keeps those the environment has", async () => {
  const path = await Deno.makeTempFile({ suffix: ".env" });
  try {
    await Deno.writeTextFile(path, "NEW=from file\nOLD=from file\n");
    const env = new Map([["OLD", "from shell"]]);
    const result = await loadEnvFile(path, { get: (k) => env.get(k), set: (k, v) => void env.set(k, v) });
    assert.deepEqual(result, { set: ["NEW"], kept: ["OLD"] });
    assert.deepEqual(Object.fromEntries(env), { OLD: "from shell", NEW: "from file" });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("loadEnvFile refuses a missing file, a directory and a malformed file, naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.env`, "OK=1\nnope\n");
    const env = { get: () => undefined, set: () => {} };
    for (
      const [path, message] of [
        [`${dir}/missing.env`, `"${dir}/missing.env" does not exist`],
        [dir, `"${dir}" is not a regular file`],
        [
          `${dir}/bad.env`,
          `"${dir}/bad.env" line 2 is not KEY=VALUE (a name of letters, digits and _, then =, then the value)`,
        ],
      ]
    ) {
      await assert.rejects(loadEnvFile(path, env), (err: unknown) => {
        assert.ok(err instanceof EnvFileError);
        assert.equal(err.message, message);
        return true;
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
