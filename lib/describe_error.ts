/** Turns a thrown value into the fields an operator needs: what, where, and how to fix it. */

import { describeMissingPackage } from "./missing_package.ts";

export interface ErrorDescription {
  /** The first line of the message, without terminal colours. */
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

/** Describes `err`; `fileUrl` (without query) is the module whose line we look for. */
export function describeError(err: unknown, fileUrl?: string): ErrorDescription {
  const raw = err instanceof Error ? err.message : String(err);
  const message = raw.replace(ANSI, "").split("\n")[0].trim() ||
    (err instanceof Error ? err.name : "unknown error");
  const description: ErrorDescription = { message };
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
  if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
    const flag = /--allow-[a-z-]+/.exec(raw);
    if (flag) description.hint = `grant it with ${flag[0]} in the exporter's permission flags`;
  }
  return description;
}
