/** A module's exports as the exporter reads them (a host sends them, lib/host_protocol.ts), and their checks. */

import { durationExport } from "./duration_export.ts";
import { type ProbeSettings, type ProbeShape, probeShape, validateProbeExports } from "./probe_exports.ts";

/** What the exporter needs of a module's exports: the kinds of its functions, the values of its settings. */
export interface ExportShape extends ProbeShape {
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
    ...probeShape(exports),
  };
}

const NO_FUNCTION = "it exports no process() function: add export function process(ctx) to collect " +
  "metrics, or export function probe(target, ctx) to answer /probe";

/**
 * The module's own interval, timeout and maxAge, and its probe settings if it exports probe();
 * throws a message naming the bad export.
 */
export function validateExports(
  shape: ExportShape,
): { intervalMs?: number; timeoutMs?: number; maxAgeMs?: number; probe?: ProbeSettings } {
  const probe = validateProbeExports(shape);
  if (shape.process === "undefined" && probe === undefined) {
    throw new Error(NO_FUNCTION);
  }
  if (shape.process !== "function" && shape.process !== "undefined") {
    throw new Error(`its "process" export is a ${shape.process}, not a function`);
  }
  if (shape.dispose !== "undefined" && shape.dispose !== "function") {
    throw new Error(`its "dispose" export is a ${shape.dispose}, not a function`);
  }
  return {
    intervalMs: durationExport(shape.interval, "interval"),
    timeoutMs: durationExport(shape.timeout, "timeout"),
    maxAgeMs: durationExport(shape.maxAge, "maxAge"),
    probe,
  };
}
