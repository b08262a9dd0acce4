/**
 * A probe module's exports (issue 20): `probe(target, ctx)`, which targets it accepts, which
 * query parameters it takes and how many calls may run at once. They cross the process
 * boundary as JSON, where a RegExp is `{}`: its source and flags go instead, and the server
 * builds the RegExp again and checks targets itself, before any call reaches the host.
 */

import { durationExport } from "./duration_export.ts";

/** The probe exports as they cross from a host: typeof for functions, plain data for the rest. */
export interface ProbeShape {
  probe?: string;
  validateTarget?: string;
  /** `{ regexp: { source, flags } }`, a list of strings, or what the module exported instead (to say what is wrong). */
  targets?: unknown;
  params?: unknown;
  concurrency?: unknown;
  cache?: unknown;
}

/** Which targets a probe module accepts, as the server checks them. */
export type TargetRule =
  | { kind: "regexp"; regexp: RegExp; source: string }
  | { kind: "list"; list: ReadonlySet<string> };

export interface ProbeSettings {
  /** From `export const targets`; undefined when only validateTarget() decides. */
  targets?: TargetRule;
  /** The module exports validateTarget(target), which runs in its host. */
  validateTarget: boolean;
  /** The query parameters the module takes. */
  params: readonly string[];
  /** Distinct calls at once (`export const concurrency`). */
  concurrency: number;
  /** `export const cache = "30s"`: how long a good result is served again; undefined: no cache. */
  cacheMs?: number;
}

/** Calls of one probe module at once unless it says otherwise. */
export const DEFAULT_PROBE_CONCURRENCY = 16;

/** The exporter's own query parameters of `/probe`: no module may declare them. */
export const RESERVED_PARAMS: readonly string[] = ["module", "target", "debug"];

const WHAT_TO_ADD = "export const targets (a RegExp the whole target must match, or a list of exact " +
  "targets) or export function validateTarget(target): boolean";

/** The shape of the probe exports, host side: RegExps as source and flags. */
export function probeShape(exports: Record<string, unknown>): ProbeShape {
  const targets = exports.targets;
  return {
    probe: typeof exports.probe,
    validateTarget: typeof exports.validateTarget,
    targets: targets instanceof RegExp
      ? { regexp: { source: targets.source, flags: targets.flags } }
      : plain(targets),
    params: plain(exports.params),
    concurrency: plain(exports.concurrency),
    cache: plain(exports.cache),
  };
}

function plain(value: unknown): unknown {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(JSON.stringify(value) ?? "null");
  } catch {
    return String(value);
  }
}

/**
 * The probe settings of a module, undefined when it exports no probe(); throws a message
 * naming the bad export, or what to add.
 */
export function validateProbeExports(shape: ProbeShape): ProbeSettings | undefined {
  const probe = shape.probe ?? "undefined";
  if (probe === "undefined") {
    for (const key of ["targets", "validateTarget", "params", "concurrency", "cache"] as const) {
      const value = shape[key];
      if (value !== undefined && value !== "undefined") {
        throw new Error(`it exports "${key}" but no probe(target, ctx) function`);
      }
    }
    return undefined;
  }
  if (probe !== "function") throw new Error(`its "probe" export is a ${probe}, not a function`);
  const validate = shape.validateTarget ?? "undefined";
  if (validate !== "undefined" && validate !== "function") {
    throw new Error(`its "validateTarget" export is a ${validate}, not a function`);
  }
  const targets = targetRule(shape.targets);
  if (!targets && validate === "undefined") {
    throw new Error(`it exports probe() but says no targets it accepts: add ${WHAT_TO_ADD}`);
  }
  return {
    targets,
    validateTarget: validate === "function",
    params: paramList(shape.params),
    concurrency: concurrencyOf(shape.concurrency),
    ...shape.cache === undefined ? {} : { cacheMs: cacheOf(shape.cache) },
  };
}

function targetRule(value: unknown): TargetRule | undefined {
  if (value === undefined) return undefined;
  const regexp = (value as { regexp?: { source?: unknown; flags?: unknown } } | null)?.regexp;
  if (regexp && typeof regexp.source === "string" && typeof regexp.flags === "string") {
    // Whole-target matches only; g and y would make test() depend on the last call.
    const flags = regexp.flags.replace(/[gy]/g, "");
    try {
      return { kind: "regexp", regexp: new RegExp(`^(?:${regexp.source})$`, flags), source: regexp.source };
    } catch (err) {
      throw new Error(`its "targets" RegExp cannot be rebuilt: ${(err as Error).message}`);
    }
  }
  if (Array.isArray(value) && value.every((t) => typeof t === "string")) {
    if (value.length === 0) throw new Error(`its "targets" list is empty: no target could be probed`);
    return { kind: "list", list: new Set(value) };
  }
  throw new Error(`its "targets" export must be a RegExp or a list of strings, not ${JSON.stringify(value)}`);
}

function paramList(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((p) => typeof p === "string" && p !== "")) {
    throw new Error(`its "params" export must be a list of parameter names, not ${JSON.stringify(value)}`);
  }
  const reserved = value.find((p) => RESERVED_PARAMS.includes(p));
  if (reserved !== undefined) {
    throw new Error(`its "params" export declares "${reserved}", which is the exporter's own parameter`);
  }
  return [...new Set(value as string[])];
}

function concurrencyOf(value: unknown): number {
  if (value === undefined) return DEFAULT_PROBE_CONCURRENCY;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > 10_000) {
    throw new Error(
      `its "concurrency" export must be a whole number from 1 to 10000, not ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** An exported `cache` (never undefined here). */
function cacheOf(value: unknown): number {
  return durationExport(value, "cache")!;
}

/** Whether `target` passes the module's `targets` rule (validateTarget() is asked separately). */
export function targetAllowed(rule: TargetRule | undefined, target: string): boolean {
  if (!rule) return true;
  return rule.kind === "regexp" ? rule.regexp.test(target) : rule.list.has(target);
}
