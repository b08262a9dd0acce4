/** Test helpers for module hosts: short supervision, and the CPU the exporter's process tree uses. */

import { descendants, observationWindow, procStats } from "./_server.ts";

/** Short supervision, so that a test sees several restarts in seconds. */
export const FAST_SUPERVISION: readonly string[] = [
  "--modules.host-grace=1s",
  "--modules.heartbeat=200ms",
  "--metrics.rescan-interval=1s",
  "--collect.timeout=1s",
];

/** CPU seconds (user + system, in 10 ms ticks) the exporter and every process below it have used so far. */
async function treeCpuSeconds(pid: number): Promise<number> {
  let ticks = 0;
  for (const fields of (await procStats([pid, ...await descendants(pid)])).values()) {
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / 100;
}

/** The share of one core the exporter's process tree uses over `ms`. */
export async function coreShare(pid: number, ms: number): Promise<number> {
  const before = await treeCpuSeconds(pid);
  await observationWindow(ms);
  return (await treeCpuSeconds(pid) - before) / (ms / 1000);
}
