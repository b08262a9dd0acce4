import assert from "node:assert/strict";
import {
  formatLine,
  MAX_FAILURES,
  MAX_LINE_CHARS,
  MAX_LINES,
  MAX_SUCCESSES,
  RunHistory,
} from "./run_history.ts";
import type { RunOutcome } from "./schedule/runner.ts";

function result(outcome: RunOutcome, startedAt: number, error?: unknown) {
  return { outcome, startedAt, durationSeconds: 0.25, error };
}

Deno.test("RunHistory keeps a run's outcome, error and the lines logged while it ran", () => {
  const history = new RunHistory(() => 5000);
  history.line("a", "info", "before the run");
  history.begin("a");
  history.line("a", "info", "fetching", { url: "http://db/", attempt: 2 });
  history.line("b", "info", "another module's line");
  history.line("a", "error", "backend said", { status: 500 });
  history.end("a", result("error", 4000, new Error("HTTP 500")));
  history.line("a", "info", "after the run");
  assert.deepEqual(history.runs("a"), [{
    startedAt: 4000,
    durationSeconds: 0.25,
    outcome: "error",
    error: "HTTP 500",
    lines: [
      { at: 5000, level: "info", text: "fetching url=http://db/ attempt=2" },
      { at: 5000, level: "error", text: "backend said status=500" },
    ],
    droppedLines: 0,
  }]);
  assert.deepEqual(history.runs("b"), []);
});

Deno.test("RunHistory keeps the first MAX_LINES lines of a run, counts the rest, and cuts long lines", () => {
  const history = new RunHistory(() => 0);
  history.begin("a");
  history.line("a", "info", "x".repeat(MAX_LINE_CHARS * 2));
  for (let i = 1; i < MAX_LINES + 5; i++) history.line("a", "info", `line ${i}`);
  const run = history.end("a", result("success", 0));
  assert.equal(run.lines.length, MAX_LINES);
  assert.equal(run.droppedLines, 5);
  assert.equal(run.lines[0].text, `${"x".repeat(MAX_LINE_CHARS - 1)}…`);
  assert.equal(run.lines[MAX_LINES - 1].text, `line ${MAX_LINES - 1}`);
});

Deno.test("RunHistory keeps failed runs longer than successful ones", () => {
  const history = new RunHistory();
  let t = 0;
  for (let i = 0; i < MAX_FAILURES + 2; i++) {
    history.begin("a");
    history.end("a", result("timeout", t++));
  }
  for (let i = 0; i < MAX_SUCCESSES + 5; i++) {
    history.begin("a");
    history.end("a", result("success", t++));
  }
  const runs = history.runs("a");
  assert.deepEqual(
    runs.map((r) => [r.outcome, r.startedAt]),
    [
      ...Array.from({ length: MAX_SUCCESSES }, (_, i) => ["success", t - 1 - i]),
      ...Array.from({ length: MAX_FAILURES }, (_, i) => ["timeout", MAX_FAILURES + 1 - i]),
    ],
  );
});

Deno.test("formatLine masks credentials in the message and in fields", () => {
  assert.equal(
    formatLine("connecting to postgres://app:hunter2@db/x", { password: "hunter2", user: "app" }),
    "connecting to postgres://app:***@db/x password=*** user=app",
  );
});
