/** `dynamic_exporter check <file>`: load one module, run it once, print and validate its exposition. */

import { basename, dirname, resolve } from "node:path";
import { describeError } from "./modules/describe_error.ts";
import { register } from "prom-client";
import { formatDuration } from "./duration.ts";
import { formatFamilies, validateFamily } from "./exposition/format.ts";
import { createModuleHost } from "./modules/routing_host.ts";
import type { Logger } from "./log.ts";
import { MetricOwnership, type PromRegistry } from "./modules/ownership.ts";
import { runProcess } from "./schedule/runner.ts";
import { readSandboxDeclaration } from "./modules/declaration.ts";
import { PERMISSION_KINDS, type SandboxSpec } from "./modules/sandbox.ts";
import { moduleName } from "./modules/scan.ts";
import { selfMetrics } from "./exposition/self_metrics.ts";

export interface CheckOptions {
  collectTimeoutMs: number;
  /** --modules.sandbox: check the module in a Worker even if it declares no sandbox. */
  sandboxAll?: boolean;
  /** `--collect.interval`, shown when the module has no `interval` of its own. */
  collectIntervalMs: number;
  /**
   * The module was type-checked before this run (`deno task check-module` runs `deno check`
   * first). Without it the report says the type check was skipped: the compiled binary has no
   * TypeScript checker, and the exporter may not start `deno` (no --allow-run). Default: false.
   */
  typeChecked?: boolean;
  log: Logger;
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

  // The same names are reserved as in the exporter, so that a collision fails here too.
  const reserved = selfMetrics([], { version: "", deno: "", v8: "", typescript: "" }, 0);
  // A sandboxed module is checked in its Worker, with only what it declares, as it will run.
  const host = createModuleHost({
    ownership: new MetricOwnership(register as unknown as PromRegistry, { reserved }),
    log: options.log,
    metricsDir: dirname(resolve(file)),
    loadTimeoutMs: options.collectTimeoutMs,
    sandboxAll: options.sandboxAll ?? false,
  });
  let sandbox: SandboxSpec | undefined;
  try {
    sandbox = await readSandboxDeclaration(await Deno.realPath(file), await Deno.readTextFile(file));
  } catch (e) {
    return fail((e as Error).message);
  }
  let module;
  try {
    module = await host.load(name, file);
  } catch (e) {
    return fail((e as Error).message, (e as { hint?: string }).hint);
  }
  const timeoutMs = module.timeoutMs ?? options.collectTimeoutMs;
  err(report(module, sandbox, options));
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

/** What the exporter will do with the module: its interval, timeout, sandbox, and the type check. */
function report(
  module: { name: string; intervalMs?: number; timeoutMs?: number },
  sandbox: SandboxSpec | undefined,
  options: CheckOptions,
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
    `  sandbox: ${
      sandbox === undefined
        ? "none (runs in the exporter's process, with its permissions)"
        : `its own Worker with ${permissions!.length > 0 ? permissions!.join(" ") : "no permissions"}, ` +
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
