/** `dynamic_exporter check <file>`: load one module, run it once, print and validate its exposition. */

import { commandHost } from "./supervisor/command_host.ts";
import { basename } from "node:path";
import { describeError } from "./modules/describe_error.ts";
import { register } from "prom-client";
import { formatDuration } from "./duration.ts";
import { formatFamilies, validateFamily } from "./exposition/format.ts";
import { ProcessHost } from "./supervisor/process_host.ts";
import { type Ceiling, describePermissions } from "./supervisor/ceiling.ts";
import type { Config } from "./flags.ts";
import type { Logger } from "./log.ts";
import type { PromRegistry } from "./modules/ownership.ts";
import { runProcess } from "./schedule/runner.ts";
import { PERMISSION_KINDS, type SandboxSpec } from "./modules/sandbox.ts";
import { moduleName } from "./modules/scan.ts";
import type { HostedModule } from "./supervisor/hosted_module.ts";
import { targetAllowed } from "./modules/probe_exports.ts";

export interface CheckOptions {
  collectTimeoutMs: number;
  /** --modules.sandbox: check the module in a host of its own even if it declares no sandbox. */
  sandboxAll?: boolean;
  /** The module hosts' settings, as the exporter takes them. */
  hosts: Pick<Config, "moduleCeiling" | "sharedMemoryBytes" | "hostGraceMs" | "hostHeartbeatMs">;
  /** `--collect.interval`, shown when the module has no `interval` of its own. */
  collectIntervalMs: number;
  /**
   * The module was type-checked before this run (`deno task check-module` runs `deno check`
   * first). Without it the report says the type check was skipped: the compiled binary has no
   * TypeScript checker, and the exporter may not start `deno` (no --allow-run). Default: false.
   */
  typeChecked?: boolean;
  log: Logger;
  /** `--target`: probe the module once with it instead of running process() (issue 20). */
  target?: string;
  /** Where the exposition goes. Default: stdout. */
  out?: (text: string) => void;
  /** Where the verdict goes. Default: stderr. */
  err?: (text: string) => void;
}

/** Returns the exit code: 0 when the module is good, 1 with the reason otherwise. */
export async function checkModule(file: string, options: CheckOptions): Promise<number> {
  const out = options.out ?? ((text) => Deno.stdout.writeSync(new TextEncoder().encode(text)));
  const err = options.err ?? ((text) => Deno.stderr.writeSync(new TextEncoder().encode(text)));
  const fail = (reason: string, hint?: string): number => {
    err(`${hint ? `  hint: ${hint}\n` : ""}FAIL ${file}: ${reason}\n`);
    return 1;
  };
  const name = moduleName(basename(file));
  if (name === undefined) {
    return fail("not a module file name (*.ts, *.js, *.mts, *.mjs, not starting with . or _)");
  }

  // In the host it will run in: the shared host's permissions, or only what its sandbox declares.
  const host = commandHost(options, { log: options.log }, register as unknown as PromRegistry);
  try {
    return await check(file, name, host, options, fail, out, err);
  } finally {
    host.close();
  }
}

async function check(
  file: string,
  name: string,
  host: ProcessHost,
  options: CheckOptions,
  fail: (reason: string, hint?: string) => number,
  out: (text: string) => void,
  err: (text: string) => void,
): Promise<number> {
  let module;
  try {
    module = await host.load(name, file);
  } catch (e) {
    return fail((e as Error).message, (e as { hint?: string }).hint);
  }
  const timeoutMs = module.timeoutMs ?? options.collectTimeoutMs;
  // The sandbox as the host got it: $NAME entries expanded.
  const sandbox = (module as { spec?: SandboxSpec }).spec;
  err(report(module, sandbox, options, options.hosts.moduleCeiling));
  if (options.target !== undefined || (module as HostedModule).probeOnly) {
    try {
      return await checkProbe(module as HostedModule, options.target, timeoutMs, fail, out, err);
    } finally {
      await host.dispose(module, timeoutMs).catch(() => {});
    }
  }
  const run = await runProcess(module, { timeoutMs, log: options.log.child({ module: name }) }).result;
  if (run.outcome !== "success") {
    const described = run.outcome === "timeout" ? undefined : describeError(run.error, module.url);
    const reason = described === undefined
      ? `process() did not finish within ${formatDuration(timeoutMs)}`
      : `process() failed: ${run.error instanceof Error ? run.error.message : String(run.error)}`;
    await host.dispose(module, timeoutMs).catch(() => {});
    return fail(reason, described?.hint);
  }
  let families;
  try {
    families = await module.families();
  } catch (e) {
    return fail(`metrics failed to render: ${(e as Error).message}`);
  } finally {
    await host.dispose(module, timeoutMs).catch(() => {});
  }
  const problems = families.map(validateFamily).filter((p): p is string => p !== undefined);
  out(formatFamilies(families.filter((f) => validateFamily(f) === undefined), "text"));
  if (problems.length > 0) return fail(problems.join("; "));
  err(
    `OK ${file}: ${families.length} metric ${families.length === 1 ? "family" : "families"}, process() took ${
      (run.durationSeconds * 1000).toFixed(1)
    }ms${families.length === 0 ? " (warning: it registers no metrics)" : ""}\n`,
  );
  return 0;
}

/** Probes the module once with `target`, as GET /probe would: the target checked first. */
async function checkProbe(
  module: HostedModule,
  target: string | undefined,
  timeoutMs: number,
  fail: (reason: string, hint?: string) => number,
  out: (text: string) => void,
  err: (text: string) => void,
): Promise<number> {
  const settings = module.probeSettings;
  if (!settings) return fail("it exports no probe(target, ctx) function, so --target has nothing to probe");
  if (target === undefined) {
    err(`OK ${module.file}: a probe module; give --target=<target> to probe it once\n`);
    return 0;
  }
  const accepted = targetAllowed(settings.targets, target) &&
    (!settings.validateTarget || await module.validateTarget(target, timeoutMs).catch(() => false));
  if (!accepted) {
    return fail(
      `target ${JSON.stringify(target)} is refused by the module (its targets or validateTarget())`,
    );
  }
  const start = performance.now();
  const outcome = await module.probe(target, {}, timeoutMs, AbortSignal.timeout(timeoutMs)).catch((e) => ({
    families: [],
    logs: [],
    error: e as Error,
  }));
  const durationSeconds = (performance.now() - start) / 1000;
  for (const line of outcome.logs) err(`  log: level=${line.level} msg=${JSON.stringify(line.msg)}\n`);
  const problems = outcome.families.map(validateFamily).filter((p): p is string => p !== undefined);
  out(formatFamilies(outcome.families.filter((f) => validateFamily(f) === undefined), "text"));
  if (outcome.error) return fail(`probe() failed: ${outcome.error.message}`);
  if (problems.length > 0) return fail(problems.join("; "));
  err(
    `OK ${module.file}: probe of ${JSON.stringify(target)} succeeded in ${
      (durationSeconds * 1000).toFixed(1)
    }ms\n`,
  );
  return 0;
}

/** What the exporter will do with the module: its interval, timeout, maxAge, sandbox, and the type check. */
function report(
  module: { name: string; intervalMs?: number; timeoutMs?: number; maxAgeMs?: number },
  sandbox: SandboxSpec | undefined,
  options: CheckOptions,
  ceiling: Ceiling,
): string {
  const setting = (own: number | undefined, flag: number, name: string) =>
    own === undefined
      ? `${flag === 0 ? "at scrape time" : formatDuration(flag)} (${name})`
      : `${own === 0 ? "at scrape time" : formatDuration(own)} (its own export)`;
  const permissions = sandbox &&
    PERMISSION_KINDS.filter((kind) => sandbox.permissions[kind].length > 0)
      .map((kind) => `--allow-${kind}=${sandbox.permissions[kind].join(",")}`);
  const lines = [
    `module ${module.name}`,
    `  interval: ${setting(module.intervalMs, options.collectIntervalMs, "--collect.interval")}`,
    `  timeout: ${setting(module.timeoutMs, options.collectTimeoutMs, "--collect.timeout")}`,
    // Only when exported: the check command has no --collect.max-age to fall back on.
    ...module.maxAgeMs === undefined ? [] : [`  maxAge: ${formatDuration(module.maxAgeMs)} (its own export)`],
    `  sandbox: ${
      sandbox === undefined
        ? `none (runs in the shared module host, with the modules' permissions: ${
          describePermissions(ceiling)
        })`
        : `a host of its own with ${permissions!.length > 0 ? permissions!.join(" ") : "no permissions"}, ` +
          `memory ${size(sandbox.memoryBytes)}`
    }`,
    `  type check: ${
      options.typeChecked
        ? "passed (deno check)"
        : "skipped (this command does not type-check; `deno task check-module` does, where Deno is installed)"
    }`,
  ];
  return lines.join("\n") + "\n";
}

function size(bytes: number): string {
  if (bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2} MiB`;
  if (bytes % 1e6 === 0) return `${bytes / 1e6} MB`;
  return `${bytes} bytes`;
}
