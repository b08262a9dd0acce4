/** `dynamic_exporter check <file>`: load one module, run it once, print and validate its exposition. */

import { basename, dirname, resolve } from "node:path";
import { register } from "prom-client";
import { formatDuration } from "./duration.ts";
import { formatFamilies, validateFamily } from "./exposition/format.ts";
import { createModuleHost } from "./modules/routing_host.ts";
import type { Logger } from "./log.ts";
import { MetricOwnership, type PromRegistry } from "./modules/ownership.ts";
import { runProcess } from "./schedule/runner.ts";
import { moduleName } from "./modules/scan.ts";
import { selfMetrics } from "./exposition/self_metrics.ts";

export interface CheckOptions {
  collectTimeoutMs: number;
  /** --modules.sandbox: check the module in a Worker even if it declares no sandbox. */
  sandboxAll?: boolean;
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
  const fail = (reason: string): number => {
    err(`FAIL ${file}: ${reason}\n`);
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
  let module;
  try {
    module = await host.load(name, file);
  } catch (e) {
    return fail((e as Error).message);
  }
  const timeoutMs = module.timeoutMs ?? options.collectTimeoutMs;
  const run = await runProcess(module, { timeoutMs, log: options.log.child({ module: name }) }).result;
  if (run.outcome !== "success") {
    const reason = run.outcome === "timeout"
      ? `process() did not finish within ${formatDuration(timeoutMs)}`
      : `process() failed: ${run.error instanceof Error ? run.error.message : String(run.error)}`;
    await host.dispose(module, timeoutMs).catch(() => {});
    return fail(reason);
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
