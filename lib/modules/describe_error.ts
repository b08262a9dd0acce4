/** Turns a thrown value into the fields an operator needs: what, where, and how to fix it. */

import { describeMissingPackage } from "./missing_package.ts";

export interface ErrorDescription {
  /**
   * The first line of the message, without terminal colours, followed by its `cause` chain
   * (fetch puts the socket error there) and an AggregateError's errors.
   */
  message: string;
  /** Line and column in `file`, when the error or its stack points into it. */
  line?: number;
  column?: number;
  /** For a missing Deno permission: the flag that would grant it, e.g. "--allow-net"; for a package not installed: how to install it. */
  hint?: string;
}

// deno-lint-ignore no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** How deep a cause chain, and how many of an AggregateError's errors, are told. */
const MAX_CAUSES = 5;
const MAX_AGGREGATED = 5;

function firstLine(err: unknown): string {
  const raw = err instanceof Error ? err.message : String(err);
  return raw.replace(ANSI, "").split("\n")[0].trim() || (err instanceof Error ? err.name : "unknown error");
}

/**
 * One line that says why: the message, then `: caused by: ` and each cause's message, and for an
 * AggregateError its errors in brackets. Repeated links (a cause that repeats its parent) are left out.
 */
export function errorChain(err: unknown): string {
  const seen = new Set<unknown>();
  const tell = (e: unknown, depth: number): string => {
    seen.add(e);
    let text = firstLine(e);
    if (e instanceof AggregateError && e.errors.length > 0) {
      const inner = e.errors.slice(0, MAX_AGGREGATED).map((x) => tell(x, depth + 1));
      if (e.errors.length > MAX_AGGREGATED) inner.push(`${e.errors.length - MAX_AGGREGATED} more`);
      text += ` [${inner.join("; ")}]`;
    }
    const cause = e instanceof Error ? e.cause : undefined;
    if (cause !== undefined && cause !== null && !seen.has(cause) && depth < MAX_CAUSES) {
      const told = tell(cause, depth + 1);
      if (!text.includes(told)) text += `: caused by: ${told}`;
    }
    return text;
  };
  return tell(err, 0);
}

/** Describes `err`; `fileUrl` (without query) is the module whose line we look for. */
export function describeError(err: unknown, fileUrl?: string): ErrorDescription {
  const raw = err instanceof Error ? err.message : String(err);
  const description: ErrorDescription = { message: errorChain(err) };
  const missing = describeMissingPackage(raw.replace(ANSI, ""));
  if (missing) Object.assign(description, missing);
  if (fileUrl) {
    const text = [raw, err instanceof Error ? err.stack ?? "" : ""].join("\n").replace(ANSI, "");
    const at = new RegExp(`${escapeRegExp(fileUrl)}(?:\\?v=\\d+)?:(\\d+):(\\d+)`).exec(text);
    if (at) {
      description.line = Number(at[1]);
      description.column = Number(at[2]);
    }
  }
  const flag = missingPermission(err, raw);
  if (flag) description.hint = `grant it with ${flag} in the exporter's permission flags`;
  // An error that knows better says so itself (a sandboxed module's denial names its sandbox).
  const own = (err as { hint?: unknown } | null)?.hint;
  if (typeof own === "string") description.hint = own;
  return description;
}

/**
 * The flag a denied call lacks. Deno names it in a NotCapable error, and in the TypeError of a
 * dynamic `import("https://...")` ("Requires import access ..."). node:child_process's
 * `execSync` and `execFileSync` lose the denial entirely (Deno 2.9.6 throws only "Command
 * failed: <cmd>", with no status, no cause), so such an error, while this process may not
 * run programs, is taken for the denial it is (issue 11).
 */
function missingPermission(err: unknown, raw: string): string | undefined {
  if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
    return /--allow-[a-z-]+/.exec(raw)?.[0];
  }
  if (err instanceof TypeError && /^Requires import access to /.test(raw)) {
    return /--allow-import\b/.exec(raw)?.[0];
  }
  const execFailure = err instanceof Error && /^Command failed: /.test(raw) &&
    (err as { status?: unknown }).status === undefined && /\bcheckExecSyncError\b/.test(err.stack ?? "");
  if (execFailure && Deno.permissions.querySync({ name: "run" }).state !== "granted") return "--allow-run";
  return undefined;
}
