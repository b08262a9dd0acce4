/** A duration export of a module (`interval`, `timeout`, `maxAge`, a probe module's `cache`), checked. */

import { parseDuration } from "../duration.ts";

/** `value` in ms, or undefined when not exported; throws a message naming the export. 0 is refused for `timeout` and `cache`. */
export function durationExport(value: unknown, key: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    throw new Error(`its "${key}" export must be a duration string like "30s", not ${JSON.stringify(value)}`);
  }
  let ms: number;
  try {
    ms = parseDuration(value);
  } catch (err) {
    throw new Error(`its "${key}" export is an ${(err as Error).message}`);
  }
  if (key === "timeout" && ms === 0) throw new Error(`its "timeout" export must be greater than 0`);
  if (key === "cache" && ms === 0) {
    throw new Error(`its "cache" export must be greater than 0 (leave it out for no cache)`);
  }
  return ms;
}
