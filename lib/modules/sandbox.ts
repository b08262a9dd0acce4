/**
 * A module's `export const sandbox = {...}`: the Deno permissions its host process gets. The exporter
 * reads the declaration from the source (declaration.ts), before any of the module's code runs,
 * so no module code ever runs with more than it declared; the supervisor then checks that the
 * module's actual export says the same. The declaration must therefore be a literal: lists of
 * strings, and `memory` as a size.
 */

export const PERMISSION_KINDS = ["net", "read", "env", "run", "write", "sys"] as const;
export type PermissionKind = typeof PERMISSION_KINDS[number];

/** The default memory budget of a sandboxed module's host. */
export const DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024;

export interface SandboxSpec {
  /** Each kind's allowed values; a kind not listed is denied. */
  permissions: Record<PermissionKind, string[]>;
  /** The host's heap budget in bytes. */
  memoryBytes: number;
}

/** A sandbox declaration that cannot be used; the message says what is wrong. */
export class SandboxError extends Error {
  override name = "SandboxError";
  /** Where in the module file the fault is, when it is there: the load error and status page show it. */
  readonly line?: number;
  readonly column?: number;

  constructor(message: string, options?: ErrorOptions & { line?: number; column?: number }) {
    super(message, options);
    this.line = options?.line;
    this.column = options?.column;
  }
}

/** The sandbox of a module without a declaration, under --modules.sandbox: no permissions. */
export function emptySandbox(): SandboxSpec {
  return {
    permissions: { net: [], read: [], env: [], run: [], write: [], sys: [] },
    memoryBytes: DEFAULT_MEMORY_BYTES,
  };
}

/** Checks `value` (the parsed literal, or the module's actual export) and makes it a spec. */
export function sandboxSpec(value: unknown): SandboxSpec {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SandboxError(`"sandbox" must be an object like { net: ["api.internal:443"] }`);
  }
  const spec = emptySandbox();
  for (const [key, entry] of Object.entries(value)) {
    if (key === "memory") {
      spec.memoryBytes = parseSize(entry);
      continue;
    }
    if (!(PERMISSION_KINDS as readonly string[]).includes(key)) {
      throw new SandboxError(
        `"sandbox" has an unknown key "${key}"; use ${PERMISSION_KINDS.join(", ")} or memory`,
      );
    }
    if (!Array.isArray(entry) || entry.some((item) => typeof item !== "string" || item === "")) {
      throw new SandboxError(`"sandbox.${key}" must be a list of non-empty strings`);
    }
    // An entry becomes part of a host's --allow-<kind>=a,b flag: a comma would add an entry.
    const comma = (entry as string[]).find((item) => item.includes(","));
    if (comma !== undefined) {
      throw new SandboxError(
        `"sandbox.${key}" entry ${JSON.stringify(comma)} holds a comma; give one value per entry`,
      );
    }
    spec.permissions[key as PermissionKind] = [...new Set(entry as string[])];
  }
  return spec;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** `memory`: bytes as a number, or a string like "256MB" or "1GiB"; `what` names it in the error. */
export function parseSize(value: unknown, what = `"sandbox.memory"`): number {
  const match = typeof value === "string" ? /^(\d+(?:\.\d+)?)\s*([kmg]i?b)?$/i.exec(value.trim()) : undefined;
  const bytes = typeof value === "number"
    ? value
    : match
    ? Number(match[1]) * SIZE_UNITS[(match[2] ?? "").toLowerCase()]
    : NaN;
  if (!Number.isFinite(bytes) || bytes < 16 * 1024 ** 2) {
    throw new SandboxError(`${what} must be a size of at least 16MiB, like "256MB"`);
  }
  return Math.floor(bytes);
}

/**
 * `export const sandbox = {...}` granting exactly `permissions`, kinds in PERMISSION_KINDS
 * order, those with nothing left out; what declaration.ts reads back as the same spec.
 */
export function sandboxLiteral(permissions: Partial<Record<PermissionKind, string[]>>): string {
  const entries = PERMISSION_KINDS.flatMap((kind) => {
    const values = permissions[kind] ?? [];
    return values.length > 0 ? [`${kind}: [${values.map((v) => JSON.stringify(v)).join(", ")}]`] : [];
  });
  const line = `export const sandbox = { ${entries.join(", ")} };`;
  if (entries.length === 0) return "export const sandbox = {};";
  // deno fmt's line width: longer, one kind a line.
  return line.length <= 110
    ? line
    : `export const sandbox = {\n${entries.map((e) => `  ${e},\n`).join("")}};`;
}
