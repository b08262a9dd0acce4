/**
 * Sends each module to the host it asks for: a Worker of its own when it declares
 * `export const sandbox = {...}` (or under --modules.sandbox), the exporter's isolate
 * otherwise. The declaration is read from the file before any of its code runs.
 */

import type { Logger } from "../log.ts";
import { InProcessHost } from "./in_process_host.ts";
import { localImports } from "./local_imports.ts";
import { type LoadedModule, type ModuleHost, ModuleLoadError } from "./module_host.ts";
import type { MetricOwner, MetricOwnership } from "./ownership.ts";
import { readRegularFile } from "./read_regular_file.ts";
import { readSandboxDeclaration } from "./declaration.ts";
import { emptySandbox, SandboxError, type SandboxSpec } from "./sandbox.ts";
import { WorkerHost, WorkerModule } from "./worker_host.ts";

export interface RoutingHostOptions {
  inProcess: InProcessHost;
  workers: WorkerHost;
  ownership: MetricOwnership;
  /** --modules.sandbox: every module runs in a Worker, with what it declares (nothing if it declares nothing). */
  sandboxAll: boolean;
}

/** The module host of the exporter and of the check command: in-process, or a Worker for sandboxed modules. */
export function createModuleHost(options: {
  ownership: MetricOwnership;
  log: Logger;
  /** The metrics dir (a sandboxed module may read it: its own file and helpers). */
  metricsDir: string;
  loadTimeoutMs: number;
  sandboxAll: boolean;
}): RoutingHost {
  const { ownership, log, metricsDir, loadTimeoutMs, sandboxAll } = options;
  return new RoutingHost({
    inProcess: new InProcessHost(ownership, { loadTimeoutMs }),
    workers: new WorkerHost({ ownership, log, metricsDir, loadTimeoutMs }),
    ownership,
    sandboxAll,
  });
}

export class RoutingHost implements ModuleHost {
  readonly #options: RoutingHostOptions;

  constructor(options: RoutingHostOptions) {
    this.#options = options;
  }

  async load(name: string, file: string, previous?: LoadedModule): Promise<LoadedModule> {
    const { inProcess, workers } = this.#options;
    let source: string;
    let spec: SandboxSpec | undefined;
    let helpers: string[];
    try {
      source = new TextDecoder().decode(await readRegularFile(file));
      const real = await Deno.realPath(file);
      spec = await readSandboxDeclaration(real, source) ??
        (this.#options.sandboxAll ? emptySandbox() : undefined);
      // Read once: a helper that is not a regular file fails the load before anything imports it.
      helpers = await localImports(real, source);
    } catch (err) {
      // A syntax error the declaration reader found keeps its place, as Deno's own would.
      const at = err instanceof SandboxError ? err : undefined;
      throw new ModuleLoadError(name, file, (err as Error).message, at?.line, at?.column, undefined, {
        cause: err,
      });
    }
    if (!spec && !(previous instanceof WorkerModule)) return inProcess.load(name, file, previous);
    // The new version's metrics take the previous version's names: free them first, and give
    // them back if the new version fails to load.
    const owner = (previous as { owner?: MetricOwner } | undefined)?.owner;
    const kept = owner ? [...owner.metrics] : [];
    if (owner) this.#options.ownership.release(owner);
    if (previous instanceof WorkerModule) previous.replacing = true;
    try {
      return spec
        ? await workers.load(name, file, { spec, source, helpers })
        : await inProcess.load(name, file);
    } catch (err) {
      if (owner) this.#options.ownership.restore(owner, kept);
      if (previous instanceof WorkerModule) previous.replacing = false;
      throw err;
    }
  }

  dispose(module: LoadedModule, timeoutMs: number): Promise<void> {
    return module instanceof WorkerModule
      ? this.#options.workers.dispose(module, timeoutMs)
      : this.#options.inProcess.dispose(module, timeoutMs);
  }

  release(module: LoadedModule): void {
    if (module instanceof WorkerModule) this.#options.workers.release(module);
    else this.#options.inProcess.release(module);
  }

  close(): void {
    this.#options.workers.close();
  }
}
