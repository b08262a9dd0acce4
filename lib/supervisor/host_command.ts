/**
 * The command line of a module host: the exporter's own executable. Under `deno run` it is
 * `deno run <the permissions exactly> --v8-flags=--max-old-space-size=<budget> host_entry.ts`,
 * so Deno enforces the sandbox and the heap budget (ISOLATION.md). In the compiled binary, whose
 * permissions are baked, it is the binary itself with HOST_COMMAND, which main.ts dispatches on;
 * the host revokes the kinds it has nothing of before any module loads, and the server's RSS
 * check is its memory budget (the binary ignores V8 flags given at run time).
 */

import { fileURLToPath } from "node:url";
import { HOST_COMMAND } from "../host_protocol.ts";
import { allowFlags, type Ceiling, deniedKinds } from "./ceiling.ts";
import type { HostCommand } from "./host_process.ts";

export interface HostCommandOptions {
  /** "shared", or the module's name: visible in `ps`. */
  label: string;
  permissions: Ceiling;
  /** The heap budget; 0 leaves V8's default. */
  heapBytes: number;
  loadTimeoutMs: number;
  /** More host arguments (lib/host/host_main.ts parseHostArgs): `--fixtures=` for test-module. */
  extraArgs?: string[];
  /** Added to the host's environment. */
  env?: Record<string, string>;
}

export function hostCommand(options: HostCommandOptions): HostCommand {
  const { label, permissions, heapBytes, loadTimeoutMs, env } = options;
  const hostArgs = [`--name=${label}`, `--load-timeout-ms=${loadTimeoutMs}`, ...options.extraArgs ?? []];
  if (Deno.build.standalone) {
    const revoke = [...deniedKinds(permissions), "ffi"];
    return {
      command: Deno.execPath(),
      args: [HOST_COMMAND, ...hostArgs, `--revoke=${revoke.join(",")}`],
      env,
    };
  }
  const entry = fileURLToPath(new URL("../host/host_entry.ts", import.meta.url));
  const config = fileURLToPath(new URL("../../deno.json", import.meta.url));
  const heap = heapBytes > 0
    ? [`--v8-flags=--max-old-space-size=${Math.max(16, Math.round(heapBytes / 2 ** 20))}`]
    : [];
  return {
    command: Deno.execPath(),
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      "--no-code-cache",
      "--frozen",
      "--cached-only",
      `--config=${config}`,
      ...allowFlags(permissions),
      ...heap,
      entry,
      ...hostArgs,
    ],
    env,
  };
}
