/**
 * The server's side of module hosts (issue 21): the module host of the exporter and of the
 * check command. Every module without a sandbox runs in one shared host process with the
 * modules' ceiling; each sandboxed module (a `sandbox` declaration, or any under
 * --modules.sandbox) in a host of its own with exactly what it declares. The declaration is read
 * from the source before any of the module's code runs.
 *
 * Supervision: a host that dies or is killed (host_process.ts: silent past its grace, over its
 * memory budget, a bad frame) is restarted with backoff, and only the module whose call had not
 * settled is blamed. When several had calls in flight in the shared host, each runs next in a
 * host of its own (probation) before a blame counts, so a healthy neighbour is never
 * quarantined. A module blamed BLAMES_TO_QUARANTINE times in a row is quarantined until its file
 * or a helper changes. A death while only probes were under way is blamed on their targets
 * instead (target_blame.ts): such a target is refused for a while, and the module keeps probing
 * others. The shared host is replaced after RECYCLE_AFTER_RELOADS reloads, and when a helper one
 * of its modules imported has changed: V8 never unloads a module, so only a fresh process frees
 * old versions' code and reads a helper again.
 */

import { pathToFileURL } from "node:url";
import type { Logger } from "../log.ts";
import { describeError } from "../modules/describe_error.ts";
import { helperSignature, localImports } from "../modules/local_imports.ts";
import { type LoadedModule, type ModuleHost, ModuleLoadError } from "../modules/module_host.ts";
import { validateExports } from "../modules/module_exports.ts";
import type { MetricOwner, MetricOwnership } from "../modules/ownership.ts";
import { readRegularFile } from "../modules/read_regular_file.ts";
import { emptySandbox, SandboxError, type SandboxSpec, sandboxSpec } from "../modules/sandbox.ts";
import { readSandboxDeclaration } from "../modules/declaration.ts";
import type { SerializedError } from "../host_protocol.ts";
import { type Ceiling, checkCeiling, describePermissions } from "./ceiling.ts";
import { expandSandbox } from "../modules/sandbox_env.ts";
import { hostCommand } from "./host_command.ts";
import { type HostDeath, HostGoneError, HostProcess } from "./host_process.ts";
import {
  deserializeError,
  HostedModule,
  type HostedModuleSupervisor,
  type HostSlot,
  placeholder,
  type Placement,
} from "./hosted_module.ts";
import { LOG_LEVELS, type LogLevel } from "../log.ts";
import { TargetBlame, type TargetRefusal } from "./target_blame.ts";
import { formatDuration } from "../duration.ts";

/** Blames in a row (no successful run between) that quarantine a module. */
export const BLAMES_TO_QUARANTINE = 3;
/** Reloads after which the shared host is replaced by a fresh one (each keeps the old version's code). */
export const RECYCLE_AFTER_RELOADS = 10;
/** Hosts started at once (2 cores: 100 sandboxed modules must not start a storm). */
export const SPAWNS_AT_ONCE = 2;
/** The first restart's wait; doubling for each death in a row, up to RESTART_CAP_MS. */
export const RESTART_BASE_MS = 250;
export const RESTART_CAP_MS = 30_000;
/** A host that lived this long before it died starts the backoff afresh. */
const STABLE_MS = 60_000;
/** Probation: a suspect still, or proven by a good run alone (it returns to the shared host at its next load). */
const SUSPECT = "suspect";
const PROVEN = "proven";
/** The longest a log message or field of a module's line keeps. */
const MAX_LOG_TEXT = 4096;

export interface ProcessHostOptions {
  /** The server's registry: placeholders of the hosts' metrics keep name ownership exact. */
  ownership: MetricOwnership;
  log: Logger;
  loadTimeoutMs: number;
  /** --modules.sandbox: every module runs in a host of its own, with what it declares (nothing if it declares nothing). */
  sandboxAll: boolean;
  /** --modules.allow-*: the shared host's permissions, and the most a sandbox may declare. */
  ceiling: Ceiling;
  /** The shared host's heap budget (--modules.memory). */
  sharedMemoryBytes: number;
  heartbeatMs: number;
  graceMs: number;
  /** A host ended: these modules are down until they run in its successor. */
  onHostDown?(modules: string[], death: HostDeath): void;
  /** A module was quarantined. */
  onQuarantine?(module: string, reason: string): void;
  /** A line a module logged (ctx.log, its console, an uncaught error), as it is logged: for its run history. */
  onModuleLog?(module: string, level: LogLevel, msg: string, fields: Record<string, unknown>): void;
  /**
   * `test-module` (lib/testing/test_module.ts): more host arguments, the permissions a host
   * gets instead of its own (a replay holds no net), and a call on each host before any module
   * loads in it.
   */
  testing?: {
    hostArgs: string[];
    restrict(permissions: Ceiling): Ceiling;
    onHostStarted(process: HostProcess): Promise<void>;
  };
  /** Added to every host's environment (check --suggest-sandbox: DENO_AUDIT_PERMISSIONS). */
  hostEnv?: Record<string, string>;
  /** A line of a host's stderr; true when it was the caller's (a permission audit line), which is then not logged. */
  onHostStderr?(host: string, line: string): boolean;
  /**
   * The sandbox every module runs with instead of its declaration (check --suggest-sandbox):
   * "ceiling" runs it in the shared host. Its declaration is still read: a bad one fails its load.
   */
  sandboxOverride?: SandboxSpec | "ceiling";
}

/** What the status page and self-metrics show of a host. */
export interface HostInfo {
  label: string;
  placement: Placement;
  pid?: number;
  rssBytes?: number;
}

/** Runs `task`s at most `limit` at a time, in order. */
class Limiter {
  #running = 0;
  readonly #queue: (() => void)[] = [];
  constructor(readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.limit) await new Promise<void>((resolve) => this.#queue.push(resolve));
    this.#running++;
    try {
      return await task();
    } finally {
      this.#running--;
      this.#queue.shift()?.();
    }
  }
}

class Slot implements HostSlot {
  #process: HostProcess | undefined;
  #starting: Promise<HostProcess> | undefined;
  #deathsInARow = 0;
  #restartAt = 0;
  #closed = false;
  readonly modules = new Set<HostedModule>();
  /** Names of the modules being imported into it now: their top-level code may log. */
  readonly loading = new Set<string>();

  constructor(
    readonly supervisor: ProcessHost,
    readonly label: string,
    readonly placement: Placement,
    readonly permissions: Ceiling,
    readonly memoryBytes: number,
  ) {}

  get current(): HostProcess | undefined {
    return this.#process?.alive ? this.#process : undefined;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get(): Promise<HostProcess> {
    if (this.#closed) return Promise.reject(new Error("its host was shut down"));
    if (this.#process?.alive) return Promise.resolve(this.#process);
    this.#starting ??= this.#start().finally(() => this.#starting = undefined);
    return this.#starting;
  }

  async #start(): Promise<HostProcess> {
    const wait = this.#restartAt - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    return await this.supervisor.spawn(this);
  }

  /** The process now serving the slot; its death is reported to the supervisor. */
  adopt(process: HostProcess): void {
    if (this.#closed) {
      // Started while the slot closed (shutdown): it must not outlive the server.
      process.kill({ kind: "retired", reason: "was shut down" });
      return;
    }
    this.#process = process;
    process.ended.then((death) => {
      if (this.#process === process) this.#process = undefined;
      if (death.kind === "retired" || this.#closed) return;
      const lived = performance.now() - process.startedAt;
      this.#deathsInARow = lived > STABLE_MS ? 1 : this.#deathsInARow + 1;
      this.#restartAt = performance.now() +
        Math.min(RESTART_BASE_MS * 2 ** Math.min(this.#deathsInARow - 1, 20), RESTART_CAP_MS);
      this.supervisor.died(this, process, death);
    });
  }

  /** Lets the current process go (the next get() starts a fresh one). */
  recycle(graceMs: number): void {
    const old = this.#process;
    this.#process = undefined;
    old?.retire(graceMs);
  }

  /** Kills the process; the promise settles once its stderr is read to the end. */
  close(): Promise<void> {
    this.#closed = true;
    const process = this.#process;
    process?.kill({ kind: "retired", reason: "was shut down" });
    this.#process = undefined;
    return process?.stderrRead ?? Promise.resolve();
  }
}

export class ProcessHost implements ModuleHost, HostedModuleSupervisor {
  readonly #options: ProcessHostOptions;
  readonly #log: Logger;
  readonly #shared: Slot;
  readonly #slots = new Set<Slot>();
  readonly #spawns = new Limiter(SPAWNS_AT_ONCE);
  readonly #blames = new Map<string, number>();
  /** Host deaths during probes, by module and target (issue 20). */
  readonly #targets = new TargetBlame();
  /** Modules that run in a host of their own until they have run well there (PROVEN), by name. */
  readonly #probation = new Map<string, typeof PROVEN | typeof SUSPECT>();
  /** Quarantined files, by path: what the file and its helpers looked like then, and why. */
  readonly #quarantined = new Map<string, { signature: string; reason: string }>();
  /** Host restarts, by host label and reason. */
  readonly restarts = new Map<string, Map<string, number>>();
  #version = 0;

  constructor(options: ProcessHostOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#shared = this.#slot("shared", "shared", options.ceiling, options.sharedMemoryBytes);
  }

  get loadTimeoutMs(): number {
    return this.#options.loadTimeoutMs;
  }

  get ceiling(): Ceiling {
    return this.#options.ceiling;
  }

  async load(name: string, file: string, previous?: LoadedModule): Promise<LoadedModule> {
    const version = ++this.#version;
    const key = `${name}#${version}`;
    const before = previous instanceof HostedModule ? previous : undefined;
    let source: string;
    let spec: SandboxSpec | undefined;
    /** The declaration as written, before $NAME expansion: what the module's export must equal. */
    let literal: SandboxSpec | undefined;
    let helpers: string[];
    let real: string;
    let signature: string;
    try {
      real = await Deno.realPath(file);
      source = new TextDecoder().decode(await readRegularFile(real));
      spec = await readSandboxDeclaration(real, source) ??
        (this.#options.sandboxAll ? emptySandbox() : undefined);
      // Read once: a helper that is not a regular file fails the load before anything imports it.
      helpers = await localImports(real, source);
      signature = `${source}\n${await helperSignature(helpers)}`;
      const quarantined = this.#quarantined.get(file);
      if (quarantined?.signature === signature) {
        const err = new ModuleLoadError(name, file, quarantined.reason);
        err.quarantined = quarantined.reason;
        throw err;
      }
      this.#quarantined.delete(file);
      // A module on probation goes back to the shared host once it has run well alone.
      if (this.#probation.get(name) === PROVEN) this.#probation.delete(name);
      literal = spec;
      const override = this.#options.sandboxOverride;
      if (override !== undefined) spec = literal = override === "ceiling" ? undefined : override;
      if (spec) {
        spec = expandSandbox(spec, Deno.env);
        checkCeiling(spec, this.#options.ceiling);
      }
    } catch (err) {
      if (err instanceof ModuleLoadError) throw err;
      // A syntax error the declaration reader found keeps its place, as Deno's own would.
      const at = err instanceof SandboxError ? err : undefined;
      throw new ModuleLoadError(name, file, (err as Error).message, at?.line, at?.column, undefined, {
        cause: err,
      });
    }
    const url = pathToFileURL(real).href;
    const placement: Placement = spec ? "sandboxed" : this.#probation.has(name) ? "probation" : "shared";
    const slot = placement === "shared" ? this.#shared : this.#slot(
      name,
      placement,
      spec ? this.#sandboxPermissions(spec, file, real, helpers) : this.#options.ceiling,
      spec?.memoryBytes ?? this.#options.sharedMemoryBytes,
    );
    // The new version's metrics take the previous version's names: free them first, and give
    // them back if the new version fails to load.
    const kept = before ? [...before.owner.metrics] : [];
    if (before) {
      this.#options.ownership.release(before.owner);
      before.replacing = true;
    }
    let used: HostProcess | undefined;
    slot.loading.add(name);
    try {
      let host = used = await slot.get();
      if (slot === this.#shared && await this.#stale(host, helpers)) {
        this.#log.info("replacing the shared module host", {
          reason: host.reloads >= RECYCLE_AFTER_RELOADS ? `${host.reloads} reloads` : "a helper file changed",
        });
        slot.recycle(this.#options.graceMs);
        host = used = await slot.get();
      }
      const request = (host: HostProcess) => {
        const inSameHost = before?.slot === slot && before.loadedIn === host;
        return host.request(
          { type: "load", id: host.nextId(), key, name, file, previous: inSameHost ? before.key : undefined },
          "loaded",
          { timeoutMs: this.#options.loadTimeoutMs, suspect: name },
        );
      };
      const reply = await request(host).catch(async (err: Error) => {
        // The host ended before it began this import (a neighbour's doing): import it in the next one.
        if (err instanceof HostGoneError && !err.begun) return await request(host = used = await slot.get());
        throw err;
      }).catch((err: Error) => {
        throw new Error(`${err.message}; its import was under way`, { cause: err });
      }) as unknown as {
        type: "loaded";
        exports: Record<string, unknown>;
        metrics: { name: string; type: string }[];
      } | {
        type: "load-failed";
        error: SerializedError & { line?: number; column?: number; hint?: string };
      };
      if (reply.type === "load-failed") {
        const e = reply.error;
        const cause = deserializeError(e, placement, this.#options.ceiling);
        if (e.line !== undefined || e.hint !== undefined) {
          throw new ModuleLoadError(name, file, e.message, e.line, e.column, e.hint, { cause });
        }
        throw cause;
      }
      const settings = validateExports(reply.exports as never);
      // No export at all grants nothing (a literal the reader found but the module does not
      // export must not widen it); an export must say what the literal said.
      const declared = this.#options.sandboxOverride === undefined ? reply.exports.sandbox : undefined;
      if (placement !== "sandboxed" && declared !== null && declared !== undefined) {
        throw new Error(
          `it exports "sandbox", but not as a literal the exporter can read before running it ` +
            `(export const sandbox = { ... } in the module file itself)`,
        );
      }
      if (spec && declared !== null && declared !== undefined) {
        const actual = sandboxSpec(declared);
        if (JSON.stringify(actual) !== JSON.stringify(literal)) {
          throw new Error(
            `its "sandbox" export differs from the literal in its source; export a plain literal`,
          );
        }
      }
      const module = new HostedModule(
        this,
        slot,
        placement,
        name,
        file,
        url,
        version,
        key,
        settings.intervalMs,
        settings.timeoutMs,
        helpers,
        spec,
        host,
      );
      module.maxAgeMs = settings.maxAgeMs;
      module.probeSettings = settings.probe;
      module.probeOnly = reply.exports.process === "undefined";
      module.syncPlaceholders(reply.metrics);
      slot.modules.add(module);
      if (before) host.reloads++;
      for (const [path, sig] of await helperSignatures(helpers)) host.helperSignatures.set(path, sig);
      return module;
    } catch (err) {
      if (before) {
        this.#options.ownership.restore(before.owner, kept);
        before.replacing = false;
      }
      const gone = err instanceof HostGoneError ? err : (err as Error)?.cause;
      // Settled already: the death's handler (died()) has counted its blame before the slot closes.
      if (gone instanceof HostGoneError && used) await used.ended;
      if (slot !== this.#shared) this.#closeSlot(slot);
      if (gone instanceof HostGoneError && gone.begun) {
        const quarantined = this.#importEndedHost(name, file, signature);
        if (quarantined) {
          const e = new ModuleLoadError(name, file, quarantined, undefined, undefined, undefined, {
            cause: err,
          });
          e.quarantined = quarantined;
          throw e;
        }
      }
      if (err instanceof ModuleLoadError) throw err;
      const { message, line, column, hint } = describeError(err, url);
      throw new ModuleLoadError(name, file, message, line, column, hint ?? (err as { hint?: string }).hint, {
        cause: err,
      });
    } finally {
      slot.loading.delete(name);
    }
  }

  async dispose(module: LoadedModule, timeoutMs: number): Promise<void> {
    if (!(module instanceof HostedModule)) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        module.dispose(timeoutMs),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error("dispose() timed out")),
            timeoutMs + this.#options.graceMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.#options.ownership.retire(module.owner);
      this.#forget(module);
      if (module.startedThreads && module.slot === this.#shared) {
        this.#log.info("replacing the shared module host", { reason: `${module.name} started a Worker` });
        this.#shared.recycle(this.#options.graceMs);
      }
    }
  }

  release(module: LoadedModule): void {
    if (!(module instanceof HostedModule)) return;
    this.#options.ownership.release(module.owner);
    this.#forget(module);
  }

  /**
   * Kills every host at once (SIGKILL): at the end of shutdown, or past its deadline; none may
   * outlive the server. The promise settles once their stderr is read to the end; a process a
   * host started may hold that pipe open, so a caller that waits for it bounds the wait.
   */
  close(): Promise<void> {
    const read = [...this.#slots].map((slot) => slot.close());
    this.#slots.clear();
    return Promise.all(read).then(() => {});
  }

  /** Lets the shared host go: its modules import afresh in a new one at their next run (a new environment, say). */
  recycleShared(): void {
    if (this.#shared.current) this.#shared.recycle(this.#options.graceMs);
  }

  /** The hosts running now, for the status page and the self-metrics. */
  hosts(): HostInfo[] {
    return [...this.#slots].flatMap((slot) => {
      const process = slot.current;
      return process
        ? [{ label: slot.label, placement: slot.placement, pid: process.pid, rssBytes: process.rss() }]
        : [];
    });
  }

  /** How a module runs, for the status page. */
  describe(
    module: LoadedModule,
  ): { placement: Placement; permissions: string; restarts: number } | undefined {
    if (!(module instanceof HostedModule)) return undefined;
    let restarts = 0;
    for (const n of this.restarts.get(module.slot.label)?.values() ?? []) restarts += n;
    return {
      placement: module.placement,
      permissions: describePermissions(module.slot.permissions),
      restarts,
    };
  }

  hold(owner: MetricOwner, name: string, type: string): void {
    this.#options.ownership.registerAs(owner, placeholder(name, type));
  }

  drop(owner: MetricOwner, name: string): void {
    this.#options.ownership.releaseOne(owner, name);
  }

  succeeded(module: HostedModule): void {
    this.#blames.delete(module.name);
    if (module.placement === "probation") this.#probation.set(module.name, PROVEN);
  }

  probeAnswered(module: HostedModule, target: string): void {
    this.#targets.answered(module.name, target);
  }

  targetRefusal(module: HostedModule, target: string): TargetRefusal | undefined {
    return this.#targets.refusal(module.name, target);
  }

  /** Starts a host for `slot`, a few at a time. */
  spawn(slot: Slot): Promise<HostProcess> {
    return this.#spawns.run(async () => {
      const process = new HostProcess({
        label: slot.label,
        command: hostCommand({
          label: slot.label,
          permissions: this.#options.testing?.restrict(slot.permissions) ?? slot.permissions,
          heapBytes: slot.memoryBytes,
          loadTimeoutMs: this.#options.loadTimeoutMs,
          extraArgs: this.#options.testing?.hostArgs,
          env: this.#options.hostEnv,
        }),
        log: this.#log,
        heartbeatMs: this.#options.heartbeatMs,
        graceMs: this.#options.graceMs,
        memoryBytes: slot.memoryBytes,
        onStderrLine: this.#options.onHostStderr && ((line) => this.#options.onHostStderr!(slot.label, line)),
      });
      process.onMessage = (message) => this.#relay(slot, message);
      slot.adopt(process);
      await process.ready;
      await this.#options.testing?.onHostStarted(process);
      return process;
    });
  }

  /** A slot's process died (not retired): count it, blame, and have its modules run again. */
  died(slot: Slot, process: HostProcess, death: HostDeath): void {
    this.#count(slot.label, death.kind);
    const suspects = [...new Set([...death.suspects, ...death.probes.map((p) => p.module)])];
    this.#log.error("module host ended", {
      host: slot.label,
      pid: process.pid,
      reason: death.reason,
      suspects: suspects.join(",") || undefined,
      targets: death.probes.length > 0 ? cut(death.probes.map((p) => p.target).join(",")) : undefined,
      disposing: death.disposing.join(",") || undefined,
    });
    // Only probes were under way: the death is their targets' doing, not the module's (issue 20).
    const probesOnly = death.suspects.length === 0 && death.probes.length > 0;
    // Only a replaced or deleted version's dispose() was: that version is gone, and the one now
    // loaded (perhaps with the fix) is not blamed. Each such death needs an edit, so its count
    // is the operator's to keep.
    const disposalOnly = suspects.length === 0 && death.disposing.length > 0;
    const blamed = slot === this.#shared || probesOnly
      ? suspects
      : death.kind === "start" || disposalOnly
      ? []
      : [...new Set([...suspects, ...[...slot.modules].map((m) => m.name)])];
    if (slot === this.#shared && blamed.length > 1) {
      // Several calls were in flight: each suspect runs next in a host of its own, where a
      // death is its own doing, before a blame counts.
      this.#log.warn("module host ended with several calls in flight; each suspect runs alone next", {
        host: slot.label,
        suspects: blamed.join(","),
      });
    } else if (probesOnly) {
      // Each target whose probe was under way: a good one's next probe answers and clears it.
      for (const { module, target } of death.probes) this.#blameTarget(module, target, death);
    } else {
      for (const name of blamed) this.#blame(slot, name, death);
    }
    if (slot === this.#shared) {
      // A module whose old version's dispose() ended the host runs alone too: its next reload's
      // dispose() (unfixed, likely the same) ends only its own host.
      const alone = [...blamed, ...death.disposing];
      for (const module of [...slot.modules]) {
        if (alone.includes(module.name) && !module.retired && !module.quarantined) this.#isolate(module);
      }
    }
    if (slot !== this.#shared && !disposalOnly) {
      // Its own host ended between calls (memory growth between runs): the next run says so.
      for (const module of slot.modules) {
        if (!suspects.includes(module.name)) {
          module.pendingError = new Error(`its host ${death.reason}`);
        }
      }
    }
    const down = [...slot.modules].filter((m) => !m.retired && !m.quarantined).map((m) => m.name);
    if (down.length > 0) this.#options.onHostDown?.(down, death);
  }

  #blame(slot: Slot, name: string, death: HostDeath): void {
    const count = (this.#blames.get(name) ?? 0) + 1;
    this.#blames.set(name, count);
    const module = [...slot.modules].find((m) => m.name === name && !m.retired);
    if (count < BLAMES_TO_QUARANTINE || !module) return;
    const reason = `its run ended its host ${count} times in a row (last: the host ${death.reason}); ` +
      `quarantined until its file or a helper changes`;
    this.#quarantine(module, reason);
  }

  #blameTarget(module: string, target: string, death: HostDeath): void {
    const refusal = this.#targets.blame(module, target, death.reason);
    if (!refusal) return;
    this.#log.error("probe target refused", {
      module,
      target: cut(target),
      for: formatDuration(refusal.remainingMs),
      reason:
        `its probes ended the module's host ${refusal.deaths} times in a row (last: the host ${death.reason})`,
    });
  }

  async #quarantine(module: HostedModule, reason: string): Promise<void> {
    module.quarantined = reason;
    this.#blames.delete(module.name);
    this.#log.error("module quarantined", { module: module.name, file: module.file, reason });
    this.#options.onQuarantine?.(module.name, reason);
    try {
      const real = await Deno.realPath(module.file);
      const source = new TextDecoder().decode(await readRegularFile(real));
      this.#quarantined.set(module.file, {
        signature: `${source}\n${await helperSignature(module.helpers)}`,
        reason,
      });
    } catch {
      // The file is gone or changed: nothing to hold back.
    }
    if (module.slot !== this.#shared) this.#closeSlot(module.slot as Slot);
  }

  /**
   * The module's import ended its host (the death's blame is counted): it loads alone from now
   * on, and is quarantined after BLAMES_TO_QUARANTINE; returns why, if so.
   */
  #importEndedHost(
    name: string,
    file: string,
    signature: string,
  ): string | undefined {
    this.#probation.set(name, SUSPECT);
    const count = this.#blames.get(name) ?? 0;
    if (count < BLAMES_TO_QUARANTINE) return undefined;
    this.#blames.delete(name);
    const reason = `its import ended its host ${count} times in a row (a loop at its top level?); ` +
      `quarantined until its file or a helper changes`;
    this.#quarantined.set(file, { signature, reason });
    this.#log.error("module quarantined", { module: name, file, reason });
    return reason;
  }

  /**
   * A suspect of the shared host's death runs alone from now on, with the same permissions,
   * until its file changes: its next death is its own doing, and its neighbours are spared.
   */
  #isolate(module: HostedModule): void {
    this.#probation.set(module.name, SUSPECT);
    const slot = this.#slot(module.name, "probation", this.#options.ceiling, this.#options.sharedMemoryBytes);
    (module.slot as Slot).modules.delete(module);
    slot.modules.add(module);
    module.slot = slot;
    module.placement = "probation";
    this.#log.info("module moved to a host of its own", { module: module.name, host: slot.label });
  }

  #relay(
    slot: Slot,
    message: {
      type: string;
      key?: unknown;
      level?: unknown;
      msg?: unknown;
      fields?: unknown;
      error?: unknown;
    },
  ): void {
    // A host names the module a line came from; only one of its own counts.
    const names = new Set([...slot.modules].map((m) => m.name).concat(...slot.loading));
    const module = typeof message.key === "string" && names.has(message.key)
      ? message.key
      : names.size === 1
      ? [...names][0]
      : undefined;
    if (message.type === "uncaught") {
      this.#log.warn("module: uncaught error, ignored", {
        module,
        host: slot.label,
        err: cut((message.error as { message?: unknown } | null)?.message ?? message.error),
      });
      if (module) {
        const err = cut((message.error as { message?: unknown } | null)?.message ?? message.error);
        this.#options.onModuleLog?.(module, "warn", "uncaught error, ignored", { err });
      }
      return;
    }
    const bounded: Record<string, unknown> = {};
    if (typeof message.fields === "object" && message.fields !== null) {
      for (const [key, value] of Object.entries(message.fields).slice(0, 32)) {
        bounded[cut(key)] = typeof value === "string" || (typeof value === "object" && value !== null)
          ? cut(value)
          : value;
      }
    }
    const level = LOG_LEVELS.includes(message.level as LogLevel) ? message.level as LogLevel : "info";
    this.#log[level](cut(message.msg), { ...bounded, module: module ?? `(host ${slot.label})` });
    if (module) this.#options.onModuleLog?.(module, level, cut(message.msg), bounded);
  }

  #count(label: string, kind: string): void {
    const byReason = this.restarts.get(label) ?? new Map<string, number>();
    byReason.set(kind, (byReason.get(kind) ?? 0) + 1);
    this.restarts.set(label, byReason);
  }

  /** Whether the shared host should be replaced before `helpers` are imported in it. */
  async #stale(host: HostProcess, helpers: string[]): Promise<boolean> {
    if (host.reloads >= RECYCLE_AFTER_RELOADS) return true;
    for (const [path, sig] of await helperSignatures(helpers)) {
      const then = host.helperSignatures.get(path);
      if (then !== undefined && then !== sig) return true;
    }
    return false;
  }

  #slot(label: string, placement: Placement, permissions: Ceiling, memoryBytes: number): Slot {
    const slot = new Slot(this, label, placement, permissions, memoryBytes);
    this.#slots.add(slot);
    return slot;
  }

  #closeSlot(slot: Slot): void {
    slot.close();
    this.#slots.delete(slot);
  }

  #forget(module: HostedModule): void {
    module.release();
    const slot = module.slot as Slot;
    slot.modules.delete(module);
    if (slot !== this.#shared) this.#closeSlot(slot);
  }

  /** A sandboxed host's permissions: the declaration, plus reading its own file (as itself and its real path) and its helpers. */
  #sandboxPermissions(spec: SandboxSpec, file: string, real: string, helpers: string[]): Ceiling {
    const { permissions } = spec;
    return {
      ...permissions,
      read: [...new Set([file, real, ...helpers, ...permissions.read])],
    };
  }
}

/** Each helper's signature, by path. */
async function helperSignatures(paths: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const path of paths) out.set(path, await helperSignature([path]));
  return out;
}

function cut(value: unknown): string {
  let text: string;
  try {
    text = typeof value === "string"
      ? value
      : typeof value === "object" && value !== null
      ? JSON.stringify(value) ?? ""
      : String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length <= MAX_LOG_TEXT ? text : `${text.slice(0, MAX_LOG_TEXT)}... (${text.length} characters)`;
}
