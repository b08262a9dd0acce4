import assert from "node:assert/strict";
import { EnvFileError, loadEnvFile, MAX_ENV_FILE_BYTES, parseEnvFile, reloadEnvFile } from "./env_file.ts";

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
    ["A=1\nSECRET_TOKEN=hunter2\0tail\n", "line 2 holds a NUL byte, which no environment variable can hold"],
    ["A=1\n# a comment \0\n", "line 2 holds a NUL byte, which no environment variable can hold"],
    ['A="multi\nline\0"\n', "line 2 holds a NUL byte, which no environment variable can hold"],
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

Deno.test("loadEnvFile refuses a missing, non-regular, oversized or malformed file, naming the file and never a value", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.env`, "OK=1\nnope\n");
    await Deno.writeTextFile(`${dir}/nul.env`, "OK=1\nSECRET_TOKEN=hunter2\0tail\n");
    // One byte over the bound; a file that size is refused by its size, before it is read.
    await Deno.writeTextFile(
      `${dir}/big.env`,
      `SECRET_TOKEN=hunter2\n#${"x".repeat(MAX_ENV_FILE_BYTES - 22)}\n`,
    );
    assert.equal((await Deno.stat(`${dir}/big.env`)).size, MAX_ENV_FILE_BYTES + 1);
    await Deno.writeTextFile(`${dir}/huge.env`, "SECRET_TOKEN=hunter2\n" + "#\n".repeat(1024 * 1024));
    const mkfifo = await new Deno.Command("mkfifo", { args: [`${dir}/fifo.env`] }).output();
    assert.equal(mkfifo.code, 0);
    const env = { get: () => undefined, set: () => {} };
    for (
      const [path, message] of [
        [`${dir}/missing.env`, `"${dir}/missing.env" does not exist`],
        [dir, `"${dir}" is a directory, not a regular file`],
        [
          `${dir}/bad.env`,
          `"${dir}/bad.env" line 2 is not KEY=VALUE (a name of letters, digits and _, then =, then the value)`,
        ],
        [
          `${dir}/nul.env`,
          `"${dir}/nul.env" line 2 holds a NUL byte, which no environment variable can hold`,
        ],
        [`${dir}/big.env`, `"${dir}/big.env" is 1.0 MiB, over the 1 MiB limit`],
        [`${dir}/huge.env`, `"${dir}/huge.env" is 2.0 MiB, over the 1 MiB limit`],
        // A FIFO would block the read until a writer came: refused by its kind, at once.
        [`${dir}/fifo.env`, `"${dir}/fifo.env" is a FIFO, not a regular file`],
        ["/dev/zero", `"/dev/zero" is a character device, not a regular file`],
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

Deno.test("loadEnvFile reads a file of exactly its size bound", async () => {
  const path = await Deno.makeTempFile({ suffix: ".env" });
  try {
    await Deno.writeTextFile(path, `AT_BOUND=1\n#${"x".repeat(MAX_ENV_FILE_BYTES - 13)}\n`);
    assert.equal((await Deno.stat(path)).size, MAX_ENV_FILE_BYTES);
    const env = new Map<string, string>();
    const result = await loadEnvFile(path, { get: (k) => env.get(k), set: (k, v) => void env.set(k, v) });
    assert.deepEqual(result, { set: ["AT_BOUND"], kept: [] });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("loadEnvFile names the variable, never its value, when the environment refuses the value", async () => {
  const path = await Deno.makeTempFile({ suffix: ".env" });
  try {
    await Deno.writeTextFile(path, "OK=1\nSECRET_TOKEN=hunter2\n");
    const env = {
      get: () => undefined,
      set: (key: string, value: string) => {
        if (key === "SECRET_TOKEN") throw new TypeError(`Value contains invalid characters: "${value}"`);
      },
    };
    await assert.rejects(loadEnvFile(path, env), (err: unknown) => {
      assert.ok(err instanceof EnvFileError);
      assert.equal(err.message, `"${path}": the environment refuses the value of SECRET_TOKEN`);
      return true;
    });
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("reloadEnvFile gives the names the file set their new values, drops removed ones, and keeps the environment's own", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/env`;
    const env = new Map<string, string>([["OWN", "from-env"]]);
    const environment = {
      get: (k: string) => env.get(k),
      set: (k: string, v: string) => void env.set(k, v),
      delete: (k: string) => void env.delete(k),
    };
    await Deno.writeTextFile(path, "A=1\nB=2\nOWN=from-file\n");
    const first = await loadEnvFile(path, environment);
    await Deno.writeTextFile(path, "A=10\nC=3\nOWN=from-file-2\n");
    const second = await reloadEnvFile(path, first, environment);
    assert.deepEqual(Object.fromEntries(env), { OWN: "from-env", A: "10", C: "3" });
    assert.deepEqual(second, { set: ["A", "C"], kept: ["OWN"], changed: true });
    assert.equal((await reloadEnvFile(path, second, environment)).changed, false);
    await Deno.writeTextFile(path, "A=oops\nthis line is bad\n");
    await assert.rejects(() => reloadEnvFile(path, second, environment), EnvFileError);
    assert.deepEqual(Object.fromEntries(env), { OWN: "from-env", A: "10", C: "3" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
