// Checks in code, beside the golden files: `deno task test-module metrics/backup_status.ts` runs
// each after the run it names ("<scenario>/<run>").
import assert from "node:assert/strict";
import type { Checks } from "dynamic_exporter";

export const checks: Checks = {
  "recorded/1": (run) => {
    assert.equal(run.sample("backup_size_bytes", { job: "home" }), 9663676416);
  },
  // A half-written file: the module is down and keeps serving what it read last.
  "job_trouble/2": (run) => {
    assert.equal(run.up, false);
    assert.match(run.error ?? "", /JSON/);
    assert.equal(run.sample("backup_last_success_timestamp_seconds", { job: "postgres" }), 1796523249);
  },
  "job_trouble/3": (run) => assert.match(run.error ?? "", /No such file/),
  // A job that left the file leaves /metrics too.
  "job_trouble/4": (run) => {
    assert.equal(run.up, true);
    assert.equal(run.sample("backup_size_bytes", { job: "home" }), undefined);
  },
};
