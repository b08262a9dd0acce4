/**
 * End to end: a hostile metrics dir (issue 8 items 1, 2 and 5; issue 7's ignored files). No
 * file in the dir may wedge the scan or the watcher: a bad entry is that module's load error,
 * and everything else in the dir keeps being applied.
 */

import assert from "node:assert/strict";
import {
  type Exporter,
  gaugeModule,
  type LogRecord,
  scrape,
  waitFor,
  waitForSample,
  withExporter,
} from "./_server.ts";
import { loadOk } from "./_samples.ts";

async function mkfifo(path: string): Promise<void> {
  const { code, stderr } = await new Deno.Command("mkfifo", { args: [path], stderr: "piped" }).output();
  if (code !== 0) throw new Error(`mkfifo ${path}: ${new TextDecoder().decode(stderr)}`);
}

/** The "module load failed" log line of `module`, waiting for it. */
function loadFailure(e: Exporter, module: string): Promise<LogRecord> {
  return e.waitForLog((r) => r.msg === "module load failed" && r.module === module);
}

/** SIGTERM must end the exporter; a wedged one is killed so that the test fails instead of hanging. */
async function assertStopsOnSigterm(e: Exporter, timeoutMs = 10_000): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), timeoutMs));
  const code = await Promise.race([e.stop("SIGTERM"), late]);
  clearTimeout(timer);
  if (code === "late") {
    e.process.kill("SIGKILL");
    await e.stop();
    assert.fail(`the exporter did not exit within ${timeoutMs} ms of SIGTERM`);
  }
  assert.equal(code, 0);
}

async function statusPage(e: Exporter): Promise<string> {
  const response = await fetch(`${e.url}/`);
  assert.equal(response.status, 200);
  return await response.text();
}

Deno.test("a FIFO and an oversized file named as modules are their load errors; the dir keeps loading", async () => {
  await withExporter({ "healthy.ts": gaugeModule("healthy_value", 1) }, async (e, dir) => {
    await waitForSample(e.url, "healthy_value", 1);
    // A FIFO blocks open() until a writer comes; 12 MiB of comment is over the 10 MiB bound.
    await mkfifo(`${dir}/fifo.ts`);
    await Deno.writeTextFile(`${dir}/big.ts`, "//" + "x".repeat(12 * 1024 * 1024 - 3) + "\n");
    await Deno.writeTextFile(`${dir}/added.ts`, gaugeModule("added_value", 2));

    await waitForSample(e.url, "added_value", 2, 5000);
    // Deno.watchFs wedges on a FIFO for the whole process: the dir is polled from then on.
    const polling = await e.waitForLog((r) => r.msg.startsWith("metrics dir holds a FIFO"));
    assert.equal(polling.file, `${dir}/fifo.ts`);
    assert.equal((await loadFailure(e, "fifo")).err, "is a FIFO, not a regular file");
    assert.equal((await loadFailure(e, "big")).err, "is 12.0 MiB, over the 10 MiB limit");
    const samples = await waitForSample(e.url, loadOk("fifo"), 0);
    assert.equal(samples.get(loadOk("big")), 0);
    assert.equal(samples.get("healthy_value"), 1);
    const page = await statusPage(e);
    assert.ok(page.includes("is a FIFO, not a regular file"), "status page names the FIFO error");
    assert.ok(page.includes("is 12.0 MiB, over the 10 MiB limit"), "status page names the size error");

    // The scan is not stuck: a change and a delete still apply, and SIGTERM still ends the exporter.
    await Deno.writeTextFile(`${dir}/added.ts`, gaugeModule("added_value", 3));
    await waitForSample(e.url, "added_value", 3, 5000);
    await Deno.remove(`${dir}/healthy.ts`);
    await waitForSample(e.url, "healthy_value", undefined, 5000);
    await assertStopsOnSigterm(e);
  });
});

Deno.test("a symlink to /dev/zero named as a module is a load error, not an endless read", async () => {
  await withExporter({ "healthy.ts": gaugeModule("healthy_value", 1) }, async (e, dir) => {
    await waitForSample(e.url, "healthy_value", 1);
    await Deno.symlink("/dev/zero", `${dir}/zero.ts`);
    // A symlink to a file outside the dir gives no file event: the added module's event scans both.
    await Deno.writeTextFile(`${dir}/added.ts`, gaugeModule("added_value", 2));

    await waitForSample(e.url, "added_value", 2, 5000);
    assert.equal((await loadFailure(e, "zero")).err, "is a character device, not a regular file");
    const samples = await waitForSample(e.url, loadOk("zero"), 0);
    assert.equal(samples.get("healthy_value"), 1);
    await assertStopsOnSigterm(e);
  });
});

/**
 * Options that make the exporter honour file modes. Root reads a mode 000 file regardless (CI
 * runs as root); without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH it is held to the file's
 * mode like any user, so setpriv drops both from the exporter's bounding set.
 */
async function fileModeBound(): Promise<{ prefix?: string[] }> {
  // The owner of a file we create is our uid (Deno.uid() would need --allow-sys).
  const probe = await Deno.makeTempFile();
  const { uid } = await Deno.stat(probe);
  await Deno.remove(probe);
  return uid === 0 ? { prefix: ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] } : {};
}

Deno.test("an unreadable module file is its own load error; every other add, change and delete applies", async () => {
  await withExporter({
    "locked.ts": gaugeModule("locked_value", 1),
    "changed.ts": gaugeModule("changed_value", 1),
    "deleted.ts": gaugeModule("deleted_value", 1),
  }, async (e, dir) => {
    await waitForSample(e.url, loadOk("deleted"), 1);
    await waitForSample(e.url, "locked_value", 1);
    await Deno.chmod(`${dir}/locked.ts`, 0o000);
    await Deno.writeTextFile(`${dir}/changed.ts`, gaugeModule("changed_value", 2));
    await Deno.remove(`${dir}/deleted.ts`);
    await Deno.writeTextFile(`${dir}/added.ts`, gaugeModule("added_value", 3));

    await waitForSample(e.url, "added_value", 3, 5000);
    // The changed file's new version serves from its first run, which may come after added's.
    const samples = await waitForSample(e.url, "changed_value", 2, 5000);
    assert.equal(samples.has("deleted_value"), false);
    assert.equal(samples.has(loadOk("deleted")), false);
    const failure = await loadFailure(e, "locked");
    assert.match(String(failure.err), /permission denied/i);
    assert.equal(failure.serving, "previous version");
    // The previous version keeps serving, reported as a failed reload.
    const after = await waitForSample(e.url, loadOk("locked"), 0);
    assert.equal(after.get("locked_value"), 1);
    assert.equal(e.logs.some((r) => r.msg === "cannot read metrics dir"), false);

    // Readable again, the file loads again.
    await Deno.chmod(`${dir}/locked.ts`, 0o644);
    await Deno.writeTextFile(`${dir}/nudge.ts`, gaugeModule("nudge_value", 1));
    await waitForSample(e.url, loadOk("locked"), 1, 5000);
  }, await fileModeBound());
});

Deno.test("a symlink loop named as a module is its load error, and the rest of the dir loads", async () => {
  await withExporter({ "healthy.ts": gaugeModule("healthy_value", 1) }, async (e, dir) => {
    await waitForSample(e.url, "healthy_value", 1);
    await Deno.symlink(`${dir}/loop.ts`, `${dir}/loop.ts`);
    await Deno.writeTextFile(`${dir}/added.ts`, gaugeModule("added_value", 2));

    await waitForSample(e.url, "added_value", 2, 5000);
    assert.match(String((await loadFailure(e, "loop")).err), /^Too many levels of symbolic links/);
    await waitForSample(e.url, loadOk("loop"), 0);
  });
});

Deno.test("a module file rewritten every 100 ms does not hold back a new module", async () => {
  const busy = gaugeModule("busy_value", 1);
  await withExporter({ "busy.ts": busy }, async (e, dir) => {
    await waitForSample(e.url, "busy_value", 1);
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) {
        await Deno.writeTextFile(`${dir}/busy.ts`, busy);
        writes++;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    try {
      // The rewrites going on, so the debounce is already being restarted.
      await waitFor(() => writes >= 5);
      const addedAt = performance.now();
      await Deno.writeTextFile(`${dir}/added.ts`, gaugeModule("added_value", 2));
      // A batch waits at most 1 s after its first event; 4 s leaves room for a loaded machine.
      await waitForSample(e.url, "added_value", 2, 4000);
      console.log(`new module served ${Math.round(performance.now() - addedAt)} ms after it was written`);
    } finally {
      writing = false;
      await writer;
    }
  });
});

Deno.test("files in the metrics dir that are not modules are each named once, with the reason", async () => {
  await withExporter({
    "healthy.ts": gaugeModule("healthy_value", 1),
    // Fails at every load, so each periodic rescan retries it and logs: a witness of rescans.
    "broken.ts": `throw new Error("broken on purpose");\n`,
    "legacy.py": "from prometheus_client import Gauge\n",
    "_helper.ts": "export const x = 1;\n",
    "notes.ts~": "",
    "lib/shared.ts": "export const y = 1;\n",
  }, async (e, dir) => {
    await waitFor(
      () => e.logs.filter((r) => r.msg === "module load failed" && r.module === "broken").length >= 3,
      {
        message: () => "three loads of broken.ts (the periodic rescan)",
      },
    );

    const ignored = e.logs.filter((r) => r.msg === "file ignored: not a module");
    assert.deepEqual(
      ignored.map((r) => [r.level, r.file]).sort(),
      [["info", `${dir}/_helper.ts`], ["info", `${dir}/legacy.py`], ["info", `${dir}/notes.ts~`]],
    );
    const python = ignored.find((r) => r.file === `${dir}/legacy.py`)!;
    assert.match(String(python.reason), /modules are TypeScript or JavaScript/);
    assert.match(String(python.reason), /#porting-a-module-from-the-python-tool/);
    const page = await statusPage(e);
    assert.ok(page.includes("Ignored files"), "status page has an ignored files section");
    assert.ok(page.includes("legacy.py"), "status page lists legacy.py");
    assert.equal(page.includes("shared.ts"), false, "a subdirectory's helpers are not listed");
    assert.equal((await scrape(e.url)).get("healthy_value"), 1);
  }, { args: ["--metrics.rescan-interval=200ms"] });
});
