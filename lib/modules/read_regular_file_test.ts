import assert from "node:assert/strict";
import { join } from "node:path";
import { checkRegularFile, NotAModuleFileError, readRegularFile } from "./read_regular_file.ts";

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "read_regular_file_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Settles like `promise`, or rejects when it has not settled after `ms` (a wedge, not slowness). */
async function within<T>(promise: Promise<T>, ms = 5000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) =>
        timer = setTimeout(() => reject(new Error(`not settled in ${ms} ms`)), ms)
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("readRegularFile reads a regular file through a symlink, up to exactly the bound", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "target"), "x".repeat(64));
    await Deno.symlink(join(dir, "target"), join(dir, "a.ts"));

    const content = await readRegularFile(join(dir, "a.ts"), 64);
    assert.equal(new TextDecoder().decode(content), "x".repeat(64));
  });
});

Deno.test("readRegularFile reads a file larger than one read chunk whole", async () => {
  await withTempDir(async (dir) => {
    const text = Array.from({ length: 20_000 }, (_, i) => `${i}\n`).join("");
    await Deno.writeTextFile(join(dir, "a.ts"), text);
    assert.equal(new TextDecoder().decode(await readRegularFile(join(dir, "a.ts"))), text);
  });
});

Deno.test("readRegularFile rejects a file one byte over the bound, naming its size and the bound", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "a.ts"), "x".repeat(65));
    await assert.rejects(
      readRegularFile(join(dir, "a.ts"), 64),
      new NotAModuleFileError("is 65 bytes, over the 64 bytes limit"),
    );
  });
});

Deno.test("readRegularFile rejects a FIFO at once instead of waiting for a writer", async () => {
  await withTempDir(async (dir) => {
    const fifo = join(dir, "x.ts");
    const { code } = await new Deno.Command("mkfifo", { args: [fifo] }).output();
    assert.equal(code, 0);
    await assert.rejects(
      within(readRegularFile(fifo)),
      new NotAModuleFileError("is a FIFO, not a regular file"),
    );
  });
});

Deno.test("readRegularFile rejects a symlink to /dev/zero at once instead of reading for ever", async () => {
  await withTempDir(async (dir) => {
    await Deno.symlink("/dev/zero", join(dir, "zero.ts"));
    await assert.rejects(
      within(readRegularFile(join(dir, "zero.ts"))),
      new NotAModuleFileError("is a character device, not a regular file"),
    );
  });
});

Deno.test("checkRegularFile names the size in MiB with one decimal and a round bound without", () => {
  const file = { isFile: true, isDirectory: false, size: 12 * 1024 * 1024 };
  assert.throws(() => checkRegularFile(file), new NotAModuleFileError("is 12.0 MiB, over the 10 MiB limit"));
  assert.doesNotThrow(() => checkRegularFile({ ...file, size: 10 * 1024 * 1024 }));
});

Deno.test("checkRegularFile throws IsADirectory for a directory, which the scan passes over", () => {
  assert.throws(
    () => checkRegularFile({ isFile: false, isDirectory: true, size: 4096 }),
    Deno.errors.IsADirectory,
  );
});
