import assert from "node:assert/strict";
import { join } from "node:path";
import { ignoreReason, type ModuleFile, moduleName, type Scan, scanDir } from "./scan.ts";

/** Runs `fn` with a fresh temp dir and removes the dir afterwards, whatever happens. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "scan_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** sha256 of `text` as lowercase hex, computed independently of scan.ts. */
async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The expected entry for `fileName` in `dir` holding `content`. */
async function moduleFile(dir: string, fileName: string, content: string): Promise<ModuleFile> {
  return { name: moduleName(fileName)!, path: join(dir, fileName), hash: await sha256(content) };
}

function scanOf(files: ModuleFile[], shadowed: Scan["shadowed"] = [], ignored: Scan["ignored"] = []): Scan {
  return { files: new Map(files.map((file) => [file.name, file])), shadowed, ignored };
}

Deno.test("moduleName strips the module extensions and rejects hidden, private and editor files", () => {
  const cases: Record<string, string | undefined> = {
    "a.ts": "a",
    "a.mjs": "a",
    "a.mts": "a",
    "a.js": "a",
    "node_load.v2.ts": "node_load.v2",
    ".a.ts": undefined,
    "_a.ts": undefined,
    "a.ts~": undefined,
    "a.swp": undefined,
    "a.ts.swp": undefined,
    "a.tmp": undefined,
    "#a.ts#": undefined,
    "a.json": undefined,
    "a.d": undefined,
    ".ts": undefined,
  };
  const actual = Object.fromEntries(Object.keys(cases).map((file) => [file, moduleName(file)]));
  assert.deepEqual(actual, cases);
});

Deno.test("scanDir lists modules, lists other files as ignored with their reason, and leaves out subdirectories", async () => {
  await withTempDir(async (dir) => {
    const modules = { "a.ts": "a", "b.mjs": "b", "c.mts": "c", "d.js": "d" };
    const ignored = [".hidden.ts", "_helper.ts", "e.ts~", "e.swp", "e.ts.swp", "e.tmp", "#e.ts#", "e.json"];
    for (const [file, content] of Object.entries(modules)) await Deno.writeTextFile(join(dir, file), content);
    for (const file of ignored) await Deno.writeTextFile(join(dir, file), "ignored");
    await Deno.mkdir(join(dir, "helpers"));
    await Deno.writeTextFile(join(dir, "helpers", "h.ts"), "helper");
    // A directory whose name looks like a module, directly and behind a symlink.
    await Deno.mkdir(join(dir, "dir.ts"));
    await Deno.symlink(join(dir, "helpers"), join(dir, "linked_dir.ts"));
    // A dir behind a link with another name (a ConfigMap's "..data") is a dir too, not listed.
    await Deno.symlink(join(dir, "helpers"), join(dir, "..data"));

    const expected = await Promise.all(
      Object.entries(modules).map(([file, content]) => moduleFile(dir, file, content)),
    );
    const listed = [...ignored].sort().map((name) => ({
      name,
      path: join(dir, name),
      reason: ignoreReason(name)!,
    }));
    assert.deepEqual(await scanDir(dir), scanOf(expected, [], listed));
  });
});

Deno.test("scanDir changes a module's hash exactly when its content changes", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "a.ts");
    const hashes: string[] = [];
    const scanHash = async () => hashes.push((await scanDir(dir)).files.get("a")!.hash);

    await Deno.writeTextFile(path, "export const v = 1;");
    await scanHash();
    await Deno.writeTextFile(path, "export const v = 1;"); // same content rewritten: new mtime only
    await scanHash();
    await Deno.writeTextFile(path, "export const v = 2;");
    await scanHash();
    await Deno.writeTextFile(path, "export const v = 1;");
    await scanHash();

    const v1 = await sha256("export const v = 1;");
    const v2 = await sha256("export const v = 2;");
    assert.deepEqual(hashes, [v1, v1, v2, v1]);
  });
});

Deno.test("scanDir follows a symlink to a file outside the dir and hashes the target's content", async () => {
  await withTempDir(async (root) => {
    const dir = join(root, "metrics");
    await Deno.mkdir(dir);
    const target = join(root, "outside.ts");
    await Deno.writeTextFile(target, "first");
    await Deno.symlink(target, join(dir, "linked.ts"));

    assert.deepEqual(await scanDir(dir), scanOf([await moduleFile(dir, "linked.ts", "first")]));
    // Changing only the target is a change of the module, as a ConfigMap update is.
    await Deno.writeTextFile(target, "second");
    assert.deepEqual(await scanDir(dir), scanOf([await moduleFile(dir, "linked.ts", "second")]));
  });
});

Deno.test("scanDir skips a dangling symlink", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "a.ts"), "a");
    await Deno.symlink(join(dir, "missing.ts"), join(dir, "dangling.ts"));

    assert.deepEqual(await scanDir(dir), scanOf([await moduleFile(dir, "a.ts", "a")]));
  });
});

Deno.test("scanDir keeps the first file name in sort order for a module name and reports the others as shadowed", async () => {
  // The same files created in two opposite orders must give the same winner.
  const files = ["a.ts", "a.mts", "a.mjs", "a.js"];
  for (const order of [files, [...files].reverse()]) {
    await withTempDir(async (dir) => {
      for (const file of order) await Deno.writeTextFile(join(dir, file), `content of ${file}`);

      const expected = scanOf([await moduleFile(dir, "a.js", "content of a.js")], [
        { file: join(dir, "a.mjs"), by: join(dir, "a.js") },
        { file: join(dir, "a.mts"), by: join(dir, "a.js") },
        { file: join(dir, "a.ts"), by: join(dir, "a.js") },
      ]);
      assert.deepEqual(await scanDir(dir), expected, `created in the order ${order.join(", ")}`);
    });
  }
});

Deno.test("scanDir rejects with NotFound when the dir does not exist", async () => {
  await withTempDir(async (root) => {
    await assert.rejects(scanDir(join(root, "missing")), Deno.errors.NotFound);
  });
});

Deno.test("ignoreReason points a Python file to the porting section and gives every other kind its reason", () => {
  const reasons = Object.fromEntries(
    ["exporter.py", ".env", "_helper.ts", "a.ts~", "a.swp", "a.tmp", "#a.ts#", "a.json", "a.ts"].map((
      file,
    ) => [file, ignoreReason(file)]),
  );
  assert.deepEqual(reasons, {
    "exporter.py": "modules are TypeScript or JavaScript (.ts, .js, .mts, .mjs); the README's section " +
      `"Porting a module from the Python tool" (#porting-a-module-from-the-python-tool) shows how to port one`,
    ".env": `hidden file (the name starts with ".")`,
    "_helper.ts": `the name starts with "_" (a helper for modules to import)`,
    "a.ts~": "editor backup or temporary file",
    "a.swp": "editor backup or temporary file",
    "a.tmp": "editor backup or temporary file",
    "#a.ts#": "editor backup or temporary file",
    "a.json": "not a module file: modules end in .ts, .js, .mts or .mjs",
    "a.ts": undefined,
  });
});

async function mkfifo(path: string): Promise<void> {
  const { code } = await new Deno.Command("mkfifo", { args: [path] }).output();
  assert.equal(code, 0, `mkfifo ${path}`);
}

Deno.test("scanDir makes a FIFO, a device, an oversized file and a symlink loop their modules' errors", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "a.ts"), "a");
    await mkfifo(join(dir, "fifo.ts"));
    await Deno.symlink("/dev/zero", join(dir, "zero.ts"));
    await Deno.writeTextFile(join(dir, "big.ts"), "x".repeat(101));
    await Deno.writeTextFile(join(dir, "edge.ts"), "x".repeat(100));
    await Deno.symlink(join(dir, "loop.ts"), join(dir, "loop.ts"));

    const scan = await scanDir(dir, { maxFileBytes: 100 });
    const error = (name: string, message: string) => ({
      name,
      path: join(dir, `${name}.ts`),
      hash: "",
      error: message,
    });
    assert.deepEqual(
      scan,
      scanOf([
        await moduleFile(dir, "a.ts", "a"),
        error("big", "is 101 bytes, over the 100 bytes limit"),
        await moduleFile(dir, "edge.ts", "x".repeat(100)),
        error("fifo", "is a FIFO, not a regular file"),
        error("loop", `Too many levels of symbolic links (os error 40): stat '${join(dir, "loop.ts")}'`),
        error("zero", "is a character device, not a regular file"),
      ]),
    );
  });
});

Deno.test("scanDir makes a read error its module's error and still hashes every other module", async () => {
  await withTempDir(async (dir) => {
    for (const file of ["a.ts", "b.ts", "c.ts"]) await Deno.writeTextFile(join(dir, file), file);
    // Root reads a mode 000 file anyway, so the denial is injected here; tests/hostile_files_test.ts
    // has the real one, with the exporter held to file modes.
    const read = (path: string) =>
      path.endsWith("b.ts")
        ? Promise.reject(new Deno.errors.PermissionDenied(`Permission denied (os error 13): open '${path}'`))
        : Deno.readFile(path);

    assert.deepEqual(
      await scanDir(dir, { read }),
      scanOf([
        await moduleFile(dir, "a.ts", "a.ts"),
        {
          name: "b",
          path: join(dir, "b.ts"),
          hash: "",
          error: `Permission denied (os error 13): open '${join(dir, "b.ts")}'`,
        },
        await moduleFile(dir, "c.ts", "c.ts"),
      ]),
    );
  });
});
