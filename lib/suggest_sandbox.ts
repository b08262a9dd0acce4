/**
 * `dynamic_exporter check <file> --suggest-sandbox` (issue 19: a sandbox declaration learned,
 * not guessed). Runs the module once within the modules' ceiling in a host of its own whose
 * permission checks Deno writes down (permission_audit.ts), prints the `sandbox` declaration of
 * what it used, then runs it again in a host with exactly that declaration, to show it is
 * enough. What exceeds the ceiling is reported, never printed as granted.
 *
 * It learns what one run does: a branch the run does not take, or a permission error the
 * module catches and does not log, is not seen.
 */

import { commandHost } from "./supervisor/command_host.ts";
import { basename } from "node:path";
import type { CheckOptions } from "./check.ts";
import { formatDuration } from "./duration.ts";
import { within } from "./long_timer.ts";
import { learningPermissions, PermissionAudit, type UsedPermissions } from "./modules/permission_audit.ts";
import { targetAllowed } from "./modules/probe_exports.ts";
import { emptySandbox, PERMISSION_KINDS, sandboxLiteral, type SandboxSpec } from "./modules/sandbox.ts";
import { moduleName } from "./modules/scan.ts";
import { runProcess } from "./schedule/runner.ts";
import { type Ceiling, covers, describePermissions } from "./supervisor/ceiling.ts";
import type { HostedModule } from "./supervisor/hosted_module.ts";

/** Runs at most: each after the first learns a command the run before was denied. */
export const MAX_PASSES = 8;
/** How long a pass waits for its host's last audit lines once the host is killed. */
const DRAIN_MS = 2000;

/** One run of the module: what it used, and why it failed if it did. */
interface Pass {
  audit: PermissionAudit;
  /** What a sandboxed host reads anyway: the module's file, its real path, its helpers. */
  own: string[];
  /** What ran: its import, then process(), probe(target); the import failed if it is empty. */
  calls: string[];
  failure?: string;
}

/** Returns the exit code: 0 with the declaration on `out`, 1 with the reason otherwise. */
export async function suggestSandbox(file: string, options: CheckOptions): Promise<number> {
  const out = options.out ?? ((text) => Deno.stdout.writeSync(new TextEncoder().encode(text)));
  const err = options.err ?? ((text) => Deno.stderr.writeSync(new TextEncoder().encode(text)));
  const fail = (reason: string): number => {
    err(`FAIL ${file}: ${reason}\n`);
    return 1;
  };
  const name = moduleName(basename(file));
  if (name === undefined) {
    return fail("not a module file name (*.ts, *.js, *.mts, *.mjs, not starting with . or _)");
  }
  if (Deno.build.standalone) {
    // cli/rt does not read DENO_AUDIT_PERMISSIONS: only `deno run` writes the checks down.
    return fail("--suggest-sandbox needs Deno: run `deno task check-module <file> --suggest-sandbox`");
  }
  const ceiling = options.hosts.moduleCeiling;
  const runs: string[] = [];
  let pass: Pass;
  for (let n = 1;; n++) {
    const audit = new PermissionAudit();
    pass = await runOnce(file, name, "ceiling", learningPermissions(ceiling, runs), options, audit);
    const learned = pass.audit.deniedRuns.filter((c) => !runs.includes(c) && covers("run", ceiling.run, c));
    if (learned.length === 0 || n === MAX_PASSES) break;
    runs.push(...learned);
  }
  const used = pass.audit.used(Deno.cwd(), pass.own);
  // Granted in the last run, so not denied there: learned in the runs before.
  used.permissions.run = [...new Set([...runs, ...used.permissions.run])];
  // What the ceiling covers is granted; the rest is named, never printed as granted.
  const granted = emptySandbox().permissions;
  const beyond: string[] = [];
  const comma: string[] = [];
  for (const kind of PERMISSION_KINDS) {
    for (const value of used.permissions[kind]) {
      if (!covers(kind, ceiling[kind], value)) beyond.push(`--modules.allow-${kind}=${value}`);
      else if (value.includes(",")) comma.push(value); // it would add an entry to the host's flag
      else granted[kind].push(value);
    }
  }
  err(report(name, pass.calls, used, ceiling, runs));
  if (beyond.length > 0) err(`  beyond the modules' permissions: ${beyond.join(" ")}\n`);
  if (pass.failure !== undefined) return fail(pass.failure);
  if (used.all.length > 0) {
    return fail(
      `it asks for all of ${used.all.join(", ")} at once (as Deno.env.toObject() or a spread of ` +
        `process.env does), which a sandbox cannot grant: ask for each by name`,
    );
  }
  out(sandboxLiteral(granted) + "\n");
  if (beyond.length > 0) {
    return fail(
      `it uses more than modules may have (left out above): start the exporter with ${beyond.join(" ")}`,
    );
  }
  if (comma.length > 0) {
    return fail(
      `a sandbox entry cannot hold a comma (left out above): ${
        comma.map((v) => JSON.stringify(v)).join(" ")
      }`,
    );
  }
  const spec: SandboxSpec = { ...emptySandbox(), permissions: granted };
  const check = await runOnce(file, name, spec, ceiling, options);
  if (check.failure !== undefined) return fail(`in a host with exactly that sandbox, ${check.failure}`);
  err(`OK ${file}: it runs in a host of its own with exactly the sandbox above; declare it in the module\n`);
  return 0;
}

/** Loads the module in a fresh host, runs it once and disposes of it; audited when `audit` is given. */
async function runOnce(
  file: string,
  name: string,
  sandbox: SandboxSpec | "ceiling",
  ceiling: Ceiling,
  options: CheckOptions,
  audit?: PermissionAudit,
): Promise<Pass> {
  const seen = audit ?? new PermissionAudit();
  const host = commandHost(options, {
    log: options.log,
    sandboxAll: false,
    ceiling,
    sandboxOverride: sandbox,
    // The host's stderr: the pipe the server reads anyway, and no file to create or remove
    // (the server may not write).
    hostEnv: audit && { DENO_AUDIT_PERMISSIONS: "/dev/stderr" },
    onHostStderr: audit && ((_host, line) => audit.line(line)),
    onModuleLog: (_module, _level, msg, fields) => seen.logged(msg, fields),
  });
  const own = [file];
  const calls: string[] = [];
  let failure: string | undefined;
  try {
    const module = await host.load(name, file) as HostedModule;
    calls.push("its import");
    own.push(await Deno.realPath(file), ...module.helpers);
    try {
      failure = await exercise(module, options, calls);
    } finally {
      await host.dispose(module, module.timeoutMs ?? options.collectTimeoutMs).catch(() => {});
    }
  } catch (e) {
    failure = (e as Error).message;
  } finally {
    // The audit lines of the run are in the pipe before its reply: read them to the end.
    await within(host.close(), DRAIN_MS, () => new Error("stderr still open")).catch(() => {});
  }
  if (failure !== undefined) seen.text(failure);
  return { audit: seen, own, calls, failure };
}

/** Runs process() once, then probe() with --target if given, each named in `calls`; why it failed, if it did. */
async function exercise(
  module: HostedModule,
  options: CheckOptions,
  calls: string[],
): Promise<string | undefined> {
  const timeoutMs = module.timeoutMs ?? options.collectTimeoutMs;
  const { target } = options;
  if (module.probeOnly && target === undefined) {
    return "it is a probe module: give --target=<target> to learn what a probe uses";
  }
  if (!module.probeOnly) {
    calls.push("process()");
    const run = await runProcess(module, { timeoutMs, log: options.log.child({ module: module.name }) })
      .result;
    if (run.outcome === "timeout") return `process() did not finish within ${formatDuration(timeoutMs)}`;
    if (run.outcome === "error") return `process() failed: ${(run.error as Error)?.message ?? run.error}`;
  }
  if (target === undefined) return undefined;
  const settings = module.probeSettings;
  if (!settings) return "it exports no probe(target, ctx) function, so --target has nothing to probe";
  const accepted = targetAllowed(settings.targets, target) &&
    (!settings.validateTarget || await module.validateTarget(target, timeoutMs).catch(() => false));
  if (!accepted) {
    return `target ${JSON.stringify(target)} is refused by the module (its targets or validateTarget())`;
  }
  calls.push(`probe(${JSON.stringify(target)})`);
  const outcome = await module.probe(target, {}, timeoutMs, AbortSignal.timeout(timeoutMs)).catch((e) => ({
    error: e as Error,
  }));
  return outcome.error ? `probe() failed: ${outcome.error.message}` : undefined;
}

/** What was run and what it used. */
function report(
  name: string,
  calls: string[],
  used: UsedPermissions,
  ceiling: Ceiling,
  runs: string[],
): string {
  return [
    `module ${name}`,
    `  ran once, within the modules' permissions (${
      describePermissions(ceiling)
    }), with Deno's permission audit: ` +
    (calls.length === 0 ? "its import, which failed" : calls.join(", ")) +
    (runs.length > 0 ? `; again for each command it was denied: ${runs.join(", ")}` : ""),
    `  used: ${describePermissions(used.permissions)}`,
    ...used.all.length > 0 ? [`  asked for all of: ${used.all.join(", ")}`] : [],
    ...used.other.length > 0 ? [`  not declarable in a sandbox: ${used.other.join(", ")}`] : [],
  ].join("\n") + "\n";
}
