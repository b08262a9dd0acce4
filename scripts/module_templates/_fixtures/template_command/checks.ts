// Checks in code, beside the golden files (runN.prom): by "<scenario>/<run>", each throws to fail.
// Each key must name a run: once a recording replaces example/, key them "recorded/1".
import assert from "node:assert/strict";
import type { Checks } from "dynamic_exporter";

export const checks: Checks = {
  "example/1": (run) => {
    assert.equal(
      run.sample("template_command_avail_bytes", { mount: "/" }),
      16975269888,
    );
  },
  "example/2": (run) => {
    assert.equal(run.up, false);
  },
};
