import assert from "node:assert/strict";
import { IgnoredFiles } from "./ignored_files.ts";
import { Logger } from "../log.ts";
import type { IgnoredFile } from "./scan.ts";

function harness(): { ignored: IgnoredFiles; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({
    format: "json",
    level: "debug",
    now: () => new Date(0),
    write: (l) => lines.push(JSON.parse(l)),
  });
  return { ignored: new IgnoredFiles(log), lines };
}

const py: IgnoredFile = {
  name: "legacy.py",
  path: "/m/legacy.py",
  reason: "modules are TypeScript or JavaScript",
};
const swp: IgnoredFile = { name: "a.swp", path: "/m/a.swp", reason: "editor backup or temporary file" };

function line(file: IgnoredFile): Record<string, unknown> {
  return {
    ts: "1970-01-01T00:00:00.000Z",
    level: "info",
    msg: "file ignored: not a module",
    file: file.path,
    reason: file.reason,
  };
}

Deno.test("IgnoredFiles names each ignored file once across scans, and lists the last scan's", () => {
  const { ignored, lines } = harness();
  ignored.update([py]);
  ignored.update([py, swp]);
  ignored.update([py, swp]);

  assert.deepEqual(lines, [line(py), line(swp)]);
  assert.deepEqual(ignored.list(), [py, swp]);
});

Deno.test("IgnoredFiles names a file again when it comes back after a scan without it", () => {
  const { ignored, lines } = harness();
  ignored.update([py]);
  ignored.update([]);
  assert.deepEqual(ignored.list(), []);
  ignored.update([py]);

  assert.deepEqual(lines, [line(py), line(py)]);
});
