/** Test data for the pages' tests: a module's status as the exporter reports it. */

import type { ModuleStatus } from "../status.ts";

/** A module that loaded and ran fine 3 s before `now`; `change` makes it something else. */
export function moduleStatus(name: string, now: number, change: Partial<ModuleStatus> = {}): ModuleStatus {
  return {
    name,
    file: `/srv/metrics/${name}.ts`,
    loaded: true,
    lastLoadSuccessful: true,
    up: true,
    lastRunAt: now - 3000,
    lastDurationSeconds: 0.0123,
    lastSuccessAt: now - 2988,
    errors: { error: 0, timeout: 0 },
    overruns: 0,
    lastCountedAt: {},
    reloads: { success: 1, failure: 0 },
    intervalMs: 10_000,
    timeoutMs: 5000,
    metricNames: [`${name}_value`],
    stuck: false,
    servingPrevious: false,
    expired: false,
    ...change,
  };
}
