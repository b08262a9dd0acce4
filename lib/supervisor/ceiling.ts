/**
 * The modules' permission ceiling (issue 21): what the shared host holds, and the most a
 * sandboxed module may declare. Set at run time by the `--modules.allow-*` flags, each taking
 * what Deno's own `--allow-*` flag takes, so an operator grants modules a permission without
 * editing a tracked file. The default is what modules held in-process: read, net and env.
 */

import { resolve, sep } from "node:path";
import { PERMISSION_KINDS, type PermissionKind, SandboxError, type SandboxSpec } from "../modules/sandbox.ts";

/** Each kind: `true` for all of it, else the values allowed (empty: none). */
export type Ceiling = Record<PermissionKind, true | string[]>;

export function defaultCeiling(): Ceiling {
  return { read: true, net: true, env: true, run: [], write: [], sys: [] };
}

/** A `--modules.allow-<kind>` value: undefined (the flag alone) for all of the kind, "" for none. */
export function ceilingValue(value: string | undefined): true | string[] {
  if (value === undefined) return true;
  return [...new Set(value.split(",").map((v) => v.trim()).filter((v) => v !== ""))];
}

/** Whether `value` of `kind` is inside `allowed` (a path under an allowed path, a host's port under the host). */
export function covers(kind: PermissionKind, allowed: true | string[], value: string): boolean {
  if (allowed === true) return true;
  switch (kind) {
    case "read":
    case "write": {
      const path = resolve(value);
      return allowed.some((a) => {
        const root = resolve(a);
        return path === root || path.startsWith(root.endsWith(sep) ? root : root + sep);
      });
    }
    case "net":
      // "host" allows every port of host; "host:port" only that port.
      return allowed.some((a) => a === value || value.startsWith(`${a}:`) && !a.includes(":"));
    default:
      return allowed.includes(value);
  }
}

/** Fails, naming the flag to give, when `spec` asks for more than `ceiling` allows. */
export function checkCeiling(spec: SandboxSpec, ceiling: Ceiling): void {
  const missing: string[] = [];
  for (const kind of PERMISSION_KINDS) {
    for (const value of spec.permissions[kind]) {
      if (!covers(kind, ceiling[kind], value)) missing.push(`--modules.allow-${kind}=${value}`);
    }
  }
  if (missing.length > 0) {
    throw new SandboxError(
      `its sandbox asks for more than modules may have: start the exporter with ${missing.join(" ")} ` +
        `(or the broader flag; for the binary, also give it to the compile task, which bakes it in)`,
    );
  }
}

/** `--allow-<kind>[=values]` flags for `deno run`; a kind with nothing allowed gets no flag. */
export function allowFlags(permissions: Ceiling): string[] {
  const flags: string[] = [];
  for (const kind of PERMISSION_KINDS) {
    const allowed = permissions[kind];
    if (allowed === true) flags.push(`--allow-${kind}`);
    else if (allowed.length > 0) flags.push(`--allow-${kind}=${allowed.join(",")}`);
  }
  return flags;
}

/** The kinds a permission set has nothing of (what a host of the compiled binary revokes). */
export function deniedKinds(permissions: Ceiling): PermissionKind[] {
  return PERMISSION_KINDS.filter((kind) => permissions[kind] !== true && permissions[kind].length === 0);
}

/** The ceiling as `--modules.allow-*` flags would say it, for the status page and the log. */
export function describePermissions(permissions: Ceiling): string {
  const parts = PERMISSION_KINDS.flatMap((kind) => {
    const allowed = permissions[kind];
    return allowed === true ? [kind] : allowed.length > 0 ? [`${kind}=${allowed.join(",")}`] : [];
  });
  return parts.length > 0 ? parts.join(" ") : "none";
}
