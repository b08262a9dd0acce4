import assert from "node:assert/strict";
import type { Checks } from "dynamic_exporter";

export const checks: Checks = {
  // A target that answers, but not with the status asked for: the probe fails, its values are served.
  "expect/1": (run) => {
    assert.equal(run.sample("probe_success"), 0);
    assert.equal(run.error, `its status is "degraded", not "ok"`);
    assert.equal(run.sample("json_probe_value", { field: "queue_depth" }), 950);
  },
  // A target outside `targets` never reaches probe(): GET /probe answers 403.
  "expect/2": (run) => assert.match(run.error ?? "", /is refused by the module \(403\)/),
};
