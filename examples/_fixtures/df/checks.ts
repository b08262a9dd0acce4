import assert from "node:assert/strict";
import type { Checks } from "dynamic_exporter";

export const checks: Checks = {
  // A mount point with a space in its name keeps it whole.
  "recorded/1": (run) => {
    assert.equal(run.sample("df_avail_bytes", { mountpoint: "/mnt/backup disk" }), 87336800 * 1024);
  },
  // df fails on one stale mount: the module is down, and says why.
  "stale_mount/2": (run) => {
    assert.equal(run.up, false);
    assert.equal(run.error, "df failed: df: /mnt/nfs: Stale file handle");
    assert.equal(run.sample("df_size_bytes", { mountpoint: "/" }), 51290592 * 1024);
  },
};
