/**
 * What a module host's permission checks say a module used (issue 19: a sandbox declaration
 * learned, not guessed). Deno 2.9 writes one JSON line per permission check to the file named
 * by DENO_AUDIT_PERMISSIONS (`runtime/permissions/lib.rs`, `write_audit`), before it decides,
 * so a check that is then denied is seen too. Two gaps, read in that source and measured:
 *
 * - Opening a file under a *whole* read or write grant (`--allow-read`) writes both a read and
 *   a write line for it, whatever the access: the learning host is given `--allow-read=/`
 *   instead (learningPermissions()), under which each open is checked, and written, as what it is.
 * - `run` checks are never written. A command the module is denied is learned from the
 *   NotCapable message that names it ("Requires run access to "df""), in the run's error or
 *   a line the module logged; one it denies itself and swallows stays unseen.
 */

import { isAbsolute, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Ceiling } from "../supervisor/ceiling.ts";
import { PERMISSION_KINDS, type PermissionKind } from "./sandbox.ts";

/** One line of the audit: `value` null when the check was for all of the kind (Deno.env.toObject()). */
export interface AuditRecord {
  permission: string;
  value: string | null;
}

/** What a run used, as sandbox entries. */
export interface UsedPermissions {
  /** Each kind's values, narrowest first seen first: net as host:port, paths absolute. */
  permissions: Record<PermissionKind, string[]>;
  /** Kinds it asked all of at once, which a sandbox cannot list. */
  all: PermissionKind[];
  /** Checks of kinds a sandbox has no key for (import, ffi), as `kind value`. */
  other: string[];
}

const RUN_DENIED = /Requires run access to "([^"]+)"/g;

/** Collects the audit lines of one module's run and the run denials it met. */
export class PermissionAudit {
  readonly #records: AuditRecord[] = [];
  readonly #runs = new Set<string>();

  /** Takes `line` if it is an audit line (then true), as the host's stderr hands it over. */
  line(line: string): boolean {
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return false;
    }
    const { v, permission, value } = (parsed ?? {}) as Record<string, unknown>;
    if (v !== 1 || typeof permission !== "string" || !(typeof value === "string" || value === null)) {
      return false;
    }
    this.#records.push({ permission, value });
    return true;
  }

  /** Reads `text` (a run's error message) for the commands a run denial names. */
  text(text: string): void {
    for (const match of text.matchAll(RUN_DENIED)) this.#runs.add(match[1]);
  }

  /** Reads a line the module logged, its message and each field (an error it caught, say), as text(). */
  logged(msg: string, fields: Record<string, unknown>): void {
    this.text(msg);
    for (const value of Object.values(fields)) {
      this.text(typeof value === "string" ? value : JSON.stringify(value) ?? "");
    }
  }

  get records(): readonly AuditRecord[] {
    return this.#records;
  }

  /** The commands the module was denied to run. */
  get deniedRuns(): string[] {
    return [...this.#runs];
  }

  /**
   * What the records say the module used. Relative paths are resolved against `cwd` (the host's);
   * `own` are the paths a sandboxed host may read anyway (the module's file, its real path, its
   * helpers), left out.
   */
  used(cwd: string, own: string[]): UsedPermissions {
    const permissions: Record<PermissionKind, string[]> = {
      net: [],
      read: [],
      env: [],
      run: [],
      write: [],
      sys: [],
    };
    const all = new Set<PermissionKind>();
    const other = new Set<string>();
    const skip = new Set(own.map((path) => resolve(cwd, path)));
    for (const { permission, value } of this.#records) {
      if (!(PERMISSION_KINDS as readonly string[]).includes(permission)) {
        other.add(`${permission} ${value ?? "(all)"}`);
        continue;
      }
      const kind = permission as PermissionKind;
      if (value === null) {
        all.add(kind);
        continue;
      }
      const entry = kind === "net"
        ? netEntry(value)
        : kind === "read" || kind === "write"
        ? path(cwd, value)
        : value;
      if ((kind === "read" && skip.has(entry)) || permissions[kind].includes(entry)) continue;
      permissions[kind].push(entry);
    }
    for (const command of this.#runs) if (!permissions.run.includes(command)) permissions.run.push(command);
    return { permissions, all: [...all], other: [...other] };
  }
}

/**
 * The permissions of the host that learns what a module uses: the ceiling, with a whole read or
 * write grant given as `/` (the same paths, but every open is written as what it is), and of
 * `run` only `runs`, the commands learned so far (run checks are not written: each is learned
 * from its denial).
 */
export function learningPermissions(ceiling: Ceiling, runs: string[]): Ceiling {
  return {
    ...ceiling,
    read: ceiling.read === true ? ["/"] : ceiling.read,
    write: ceiling.write === true ? ["/"] : ceiling.write,
    run: runs,
  };
}

/** A fetch's URL as Deno's net check reads it: host and port, the scheme's default port if none. */
function netEntry(value: string): string {
  if (!value.includes("://")) return value; // Deno.connect and the like: host:port already
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return value;
  }
  const port = url.port ||
    ({ "http:": "80", "https:": "443", "ws:": "80", "wss:": "443" } as Record<string, string>)[url.protocol];
  return port ? `${url.hostname}:${port}` : url.hostname;
}

function path(cwd: string, value: string): string {
  if (value.startsWith("file:")) return fileURLToPath(value);
  return isAbsolute(value) ? value : resolve(cwd, value);
}
