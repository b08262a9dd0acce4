/**
 * `deno task check-module <file> [flags]`: type-checks the module with `deno check` against the
 * exporter's import map (so `gauge.set("zero")` fails here, not at 3 a.m.), then runs
 * `dynamic_exporter check` with the start task's permissions. A script, not a task line: the
 * file is needed twice, and the exporter itself may not start `deno` (it has no --allow-run).
 */

import { parseCommand } from "../lib/flags.ts";
import { ROOT, startFlags } from "./_start_flags.ts";

async function main(args: string[]): Promise<number> {
  let file: string | undefined;
  try {
    const command = parseCommand(["check", ...args.filter((a) => a !== "check")]);
    if (command.kind === "check") file = command.file;
  } catch {
    // A bad flag or a missing file: `dynamic_exporter check` below says what is wrong.
  }
  if (file !== undefined) {
    const checked = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--frozen", "--cached-only", `--config=${ROOT}deno.json`, file],
      env: { RUST_BACKTRACE: "0" }, // a failed check is the module's fault: no stack backtrace of deno's
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!checked.success) {
      console.error(`FAIL ${file}: it does not type-check (deno check, above)`);
      return 1;
    }
  }
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...await startFlags(), `${ROOT}main.ts`, "check", ...args.filter((a) => a !== "check")],
    env: { DYNAMIC_EXPORTER_TYPE_CHECKED: file === undefined ? "0" : "1" },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return run.code;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
