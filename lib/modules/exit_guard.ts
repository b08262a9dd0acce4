/**
 * In-process modules share the exporter's process: `Deno.exit()` or `process.exit()` from one
 * used to end the exporter with no log line, and `process.exit()` exits 0, so systemd's
 * `Restart=on-failure` did not even restart it (issue 8, item 7). Installed before any
 * module loads, the guard makes each of those calls throw in the module that made it, while
 * the exporter keeps the original exit for itself.
 */

import nodeProcess from "node:process";

/** What the exporter keeps for itself, and how a test puts everything back. */
export interface ExitGuard {
  /** The original `Deno.exit`. */
  exit(code: number): never;
  /** Puts the original functions back. */
  restore(): void;
}

/** The error a module's exit or self-kill throws. */
export class ModuleExitError extends Error {
  constructor(api: string) {
    super(`${api} is not allowed in a module; the exporter keeps running`);
    this.name = "ModuleExitError";
  }
}

type Target = Record<string, unknown>;

/**
 * Replaces `Deno.exit`, `process.exit`, `process.reallyExit` (where node:process's named
 * `exit` export ends up) and `process.abort` with functions that throw, and `Deno.kill` and
 * `process.kill` with ones that refuse the exporter's own pid and its process group.
 */
export function installExitGuard(): ExitGuard {
  const exit = Deno.exit.bind(Deno);
  const saved: [Target, string, unknown][] = [];
  const replace = (target: Target, key: string, value: unknown) => {
    saved.push([target, key, target[key]]);
    target[key] = value;
  };
  const refuse = (api: string) => () => {
    throw new ModuleExitError(api);
  };
  const selfTargeted = (pid: unknown) => typeof pid === "number" && (pid === Deno.pid || pid <= 0);
  const guardKill = (target: Target, api: string) => {
    const kill = target.kill as (...args: unknown[]) => unknown;
    replace(target, "kill", (...args: unknown[]) => {
      if (selfTargeted(args[0])) throw new ModuleExitError(`${api} of the exporter's own process`);
      return kill.apply(target, args);
    });
  };
  const proc = nodeProcess as unknown as Target;
  replace(Deno as unknown as Target, "exit", refuse("Deno.exit()"));
  replace(proc, "exit", refuse("process.exit()"));
  replace(proc, "reallyExit", refuse("process.exit()"));
  replace(proc, "abort", refuse("process.abort()"));
  guardKill(Deno as unknown as Target, "Deno.kill()");
  guardKill(proc, "process.kill()");
  return {
    exit,
    restore() {
      for (const [target, key, value] of saved.reverse()) target[key] = value;
      saved.length = 0;
    },
  };
}
