/** Runs modules in the exporter's own isolate through cache-busted dynamic import(). */

import { pathToFileURL } from "node:url";
import { formatDuration } from "../duration.ts";
import { within } from "../long_timer.ts";
import { exportShape, validateExports } from "./module_exports.ts";
import type { MetricFamily } from "../exposition/format.ts";
import { describeError } from "./describe_error.ts";
import { GuardedCaller } from "./guarded_call.ts";
import { type LoadedModule, type ModuleHost, ModuleLoadError, type ProcessContext } from "./module_host.ts";
import type { ProbeContext } from "../module_api.ts";
import { MetricOwner, type MetricOwnership } from "./ownership.ts";
import { checkRegularFile } from "./read_regular_file.ts";

type Exports = Record<string, unknown>;

/**
 * Taken before any module code runs: a module host replaying a fixture answers a module's
 * file reads from it (lib/host/fixture_shim.ts), never the host's own.
 */
const { realPath, stat } = Deno;

const macrotask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export class InProcessModule implements LoadedModule {
  constructor(
    readonly name: string,
    readonly file: string,
    readonly url: string,
    readonly version: number,
    readonly owner: MetricOwner,
    readonly exports: Exports,
    readonly caller: GuardedCaller,
    readonly ownership: MetricOwnership,
    readonly intervalMs?: number,
    readonly timeoutMs?: number,
  ) {}

  /** Reads of the metrics under way (in slices, issue 10): a run starts after them. */
  readonly #reads = new Set<Promise<unknown>>();

  invoke(ctx: ProcessContext, timeoutMs: number): unknown {
    const process = this.exports.process as (ctx: unknown) => unknown;
    const call = () => this.ownership.runAs(this.owner, () => this.caller.call(process, ctx, timeoutMs));
    if (this.#reads.size === 0) return call();
    // A read that runs module code (a custom get()) could hang: wait for half the run's timeout at most.
    const reads = within(Promise.all(this.#reads), timeoutMs / 2, () => new Error("read still under way"));
    // A macrotask after the read: the exposition's snapshot of the values (render_fragment.ts)
    // is taken in the microtasks that follow it.
    // A run that timed out while it waited is not started at all.
    return reads.then(macrotask, macrotask).then(() => ctx.signal.aborted ? undefined : call());
  }

  /**
   * Starts probe(target, ctx) as the module's owner (issue 20); like invoke(), a synchronous
   * part past `timeoutMs` throws a timeout error. The metrics go to `ctx.registry`.
   */
  probe(target: string, ctx: ProbeContext, timeoutMs: number): unknown {
    const probe = this.exports.probe as (target: string, ctx: unknown) => unknown;
    return this.ownership.runAs(
      this.owner,
      () => this.caller.call((arg) => probe(target, arg), ctx, timeoutMs),
    );
  }

  /** validateTarget(target), synchronous part bounded by `timeoutMs`; true only for a literal true. */
  async validateTarget(target: string, timeoutMs: number): Promise<boolean> {
    const validate = this.exports.validateTarget as (target: unknown) => unknown;
    const answer = this.ownership.runAs(this.owner, () => this.caller.call(validate, target, timeoutMs));
    return await within(Promise.resolve(answer), timeoutMs, () => new Error("validateTarget() timed out")) ===
      true;
  }

  metricNames(): string[] {
    return [...this.owner.metrics.keys()];
  }

  isDynamic(): boolean {
    // Asked at every scrape of a cached body: no array per call.
    for (const metric of this.owner.metrics.values()) if (typeof metric.collect === "function") return true;
    return false;
  }

  /**
   * The metrics' families, read in slices. A run that would start meanwhile waits for the read
   * and the exposition's snapshot of the values (render_fragment.ts), so it cannot change them
   * halfway through, in place (a Counter's inc()) or not. Runs start from timers, and a read that
   * ends is followed by that snapshot in microtasks: a run that finds no read under way is safe.
   */
  families(): Promise<MetricFamily[]> {
    const read = this.ownership.families(this.owner);
    const settled = read.catch(() => {});
    this.#reads.add(settled);
    settled.then(() => this.#reads.delete(settled));
    return read;
  }
}

export class InProcessHost implements ModuleHost {
  readonly #ownership: MetricOwnership;
  readonly #caller = new GuardedCaller();
  #version = 0;

  readonly #loadTimeoutMs: number;

  readonly #sandboxExport: boolean;

  /**
   * `loadTimeoutMs` bounds an import, so a top-level await that never settles cannot hold the
   * import lock. `sandboxExport`: a module may export `sandbox` (a module host, whose server
   * read the declaration before it started the host, and compares the export with it).
   */
  constructor(ownership: MetricOwnership, options: { loadTimeoutMs?: number; sandboxExport?: boolean } = {}) {
    this.#ownership = ownership;
    this.#loadTimeoutMs = options.loadTimeoutMs ?? 5000;
    this.#sandboxExport = options.sandboxExport ?? false;
  }

  async load(name: string, file: string, previous?: LoadedModule): Promise<LoadedModule> {
    const version = ++this.#version;
    const owner = new MetricOwner(name);
    const old = previous instanceof InProcessModule ? previous : undefined;
    const kept = old ? [...old.owner.metrics] : [];
    let url = "";
    try {
      // Import by real absolute path: a compiled binary resolves relative URLs into its
      // virtual root, and a ConfigMap's symlinked files change target on every update.
      const real = await realPath(file);
      // Deno's import would read a FIFO or a device for ever: only a regular file within the
      // size bound is imported (the scan checked too, but the file may have changed since).
      checkRegularFile(await stat(real));
      url = pathToFileURL(real).href;
      return await this.#ownership.importAs(owner, async () => {
        // The old version's metrics must go first, or re-registering their names throws.
        if (old) this.#ownership.release(old.owner);
        const exports = await this.#importWithin(`${url}?v=${version}`);
        // The router read no declaration, yet the module exports one: a form the reader
        // missed. It asked for a sandbox and must not go on running where it is (in a host,
        // the server compares the export with the declaration instead).
        if ("sandbox" in exports && !this.#sandboxExport) {
          throw new Error(
            `it exports "sandbox", but not as a literal the exporter can read before running it ` +
              `(export const sandbox = { ... } in the module file itself)`,
          );
        }
        const { intervalMs, timeoutMs } = validateExports(exportShape(exports));
        return new InProcessModule(
          name,
          file,
          url,
          version,
          owner,
          exports,
          this.#caller,
          this.#ownership,
          intervalMs,
          timeoutMs,
        );
      });
    } catch (err) {
      this.#ownership.release(owner);
      if (old) this.#ownership.restore(old.owner, kept);
      const { message, line, column, hint } = describeError(err, url);
      throw new ModuleLoadError(name, file, message, line, column, hint, { cause: err });
    }
  }

  #importWithin(specifier: string): Promise<Exports> {
    const ms = this.#loadTimeoutMs;
    return within(
      import(specifier) as Promise<Exports>,
      ms,
      () => new Error(`import did not finish within ${formatDuration(ms)} (a top-level await?)`),
    );
  }

  /**
   * Calls the version's dispose() as its owner, then retires the owner: what dispose() (or a
   * run still pending) registered goes with the version (issue 8 item 6).
   */
  async dispose(module: LoadedModule, timeoutMs: number): Promise<void> {
    if (!(module instanceof InProcessModule)) return;
    const { owner, exports } = module;
    const dispose = exports.dispose;
    try {
      if (typeof dispose !== "function") return;
      await within(
        Promise.resolve(
          this.#ownership.runAs(owner, () => this.#caller.call(() => dispose(), undefined, timeoutMs)),
        ),
        timeoutMs,
        () => new Error(`dispose() timed out`),
      );
    } finally {
      this.#ownership.retire(owner);
    }
  }

  release(module: LoadedModule): void {
    if (module instanceof InProcessModule) this.#ownership.release(module.owner);
  }
}
