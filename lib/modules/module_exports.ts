/** A module's exports as the exporter reads them (a host sends them, lib/host_protocol.ts), and their checks. */

import { parseDuration } from "../duration.ts";

/** What the exporter needs of a module's exports: the kinds of its functions, the values of its settings. */
export interface ExportShape {
  /** `typeof` the export. */
  process: string;
  dispose: string;
  interval: unknown;
  timeout: unknown;
  maxAge?: unknown;
}

export function exportShape(exports: Record<string, unknown>): ExportShape {
  return {
    process: typeof exports.process,
    dispose: typeof exports.dispose,
    interval: exports.interval,
    timeout: exports.timeout,
    maxAge: exports.maxAge,
  };
}

/** The module's own interval, timeout and maxAge; throws a message naming the bad export. */
export function validateExports(
  shape: ExportShape,
): { intervalMs?: number; timeoutMs?: number; maxAgeMs?: number } {
  if (shape.process !== "function") {
    throw new Error(
      shape.process === "undefined"
        ? "it exports no process() function"
        : `its "process" export is a ${shape.process}, not a function`,
    );
  }
  if (shape.dispose !== "undefined" && shape.dispose !== "function") {
    throw new Error(`its "dispose" export is a ${shape.dispose}, not a function`);
  }
  return {
    intervalMs: durationExport(shape.interval, "interval"),
    timeoutMs: durationExport(shape.timeout, "timeout"),
    maxAgeMs: durationExport(shape.maxAge, "maxAge"),
  };
}

function durationExport(value: unknown, key: "interval" | "timeout" | "maxAge"): number | undefined {
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
  return ms;
}
