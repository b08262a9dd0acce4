/**
 * One loaded version of a module, as the server holds it: where it runs (a slot: the shared
 * host, or a host of its own), its last good families, and placeholders in the server's
 * registry that keep cross-module name ownership exact. The version is imported into its
 * slot's current host process, and again, lazily, into the next one after a restart.
 */

import { type MetricFamily, validateFamilyHeader } from "../exposition/format.ts";
import { type FromHost, PROBE_LOG_LINES, type ProbeLogLine, type SerializedError } from "../host_protocol.ts";
import type { ProbeSettings } from "../modules/probe_exports.ts";
import type { LoadedModule, ProcessContext } from "../modules/module_host.ts";
import { MetricOwner, type PromMetric } from "../modules/ownership.ts";
import { FamilyAssembler } from "../modules/family_pages.ts";
import type { HostProcess } from "./host_process.ts";
import { type Ceiling, covers } from "./ceiling.ts";
import type { PermissionKind, SandboxSpec } from "../modules/sandbox.ts";
import type { TargetRefusal } from "./target_blame.ts";

/**
 * Samples one run of a sandboxed module may hand back. The families are copied into the server's
 * heap: a million series took the exporter past 1.5 GB of RSS and its scrapes to seconds (issue 9).
 */
export const MAX_SANDBOXED_SAMPLES = 200_000;
/** The same for a module without a sandbox, trusted as in-process modules were (the bench serves 1M series). */
export const MAX_SHARED_SAMPLES = 2_000_000;

/** Where a version runs. */
export type Placement = "shared" | "sandboxed" | "probation";

/** What the module needs of the supervisor (process_host.ts). */
export interface HostedModuleSupervisor {
  readonly loadTimeoutMs: number;
  /** The modules' ceiling, for a denied permission's hint. */
  readonly ceiling: Ceiling;
  /** Takes or releases a metric name in the server's registry for `owner`. */
  hold(owner: MetricOwner, name: string, type: string): void;
  drop(owner: MetricOwner, name: string): void;
  /** A run of `module` succeeded: its blames in a row end. */
  succeeded(module: HostedModule): void;
  /** A probe of `target` answered, well or not: the host deaths blamed on the target in a row end. */
  probeAnswered(module: HostedModule, target: string): void;
  /** Whether `target` is refused for `module`: its probes ended the host too often (issue 20). */
  targetRefusal(module: HostedModule, target: string): TargetRefusal | undefined;
}

/** A slot: a logical host whose process may be restarted. */
export interface HostSlot {
  readonly label: string;
  readonly permissions: Ceiling;
  /** The live process, started (after the restart backoff) if there is none. */
  get(): Promise<HostProcess>;
  /** The live process, if any, without starting one. */
  readonly current: HostProcess | undefined;
}

/** For a permission a module was denied, what to declare (and, past the ceiling, which flag to give). */
export function permissionHint(message: string, placement: Placement, ceiling?: Ceiling): string | undefined {
  const denied = /Requires (net|read|write|env|run|sys) access to "([^"]*)"/.exec(message);
  if (!denied) return undefined;
  const [, kind, value] = denied as unknown as [string, PermissionKind, string];
  const flag = `start the exporter with --modules.allow-${kind}=${value} (or the broader flag)`;
  if (placement !== "sandboxed") return `modules may not have it: ${flag}`;
  const declare = `declare it in the module's sandbox export: ${kind}: [${JSON.stringify(value)}]`;
  // Past the ceiling, the declaration alone would fail the load: say both steps at once.
  return ceiling && !covers(kind, ceiling[kind], value)
    ? `${declare}, and ${flag}`
    : `${declare} (within what --modules.allow-${kind} grants modules)`;
}

/** Rebuilds a host's error so that describeError finds its line, and the hint fits the module's placement. */
export function deserializeError(e: SerializedError, placement: Placement, ceiling?: Ceiling): Error {
  const denied = e.name === "NotCapable" || e.name === "PermissionDenied";
  const err = e.name === "NotCapable"
    ? new Deno.errors.NotCapable(cleanPermissionMessage(e.message))
    : e.name === "PermissionDenied"
    ? new Deno.errors.PermissionDenied(cleanPermissionMessage(e.message))
    : new Error(e.message);
  if (!denied) err.name = e.name;
  if (e.stack) err.stack = denied ? cleanPermissionMessage(e.stack) : e.stack;
  if (e.code !== undefined) (err as { code?: string }).code = e.code;
  const hint = denied ? permissionHint(e.message, placement, ceiling) : undefined;
  if (hint) (err as { hint?: string }).hint = hint;
  return err;
}

/** Deno's own advice ("run again with the --allow-read flag") is wrong for a module: the hint says what to do. */
function cleanPermissionMessage(text: string): string {
  return text.replace(/, run again with the --allow-\w+ flag/g, "");
}

type Reply<T extends FromHost["type"]> = Extract<FromHost, { type: T }>;

/**
 * How long a probe whose signal aborted may still take to answer: its host aborts it and
 * replies with what it registered and logged, which `debug=true` shows.
 */
export const PROBE_ABORT_GRACE_MS = 250;

/** What one probe() call in a host came to (issue 20). */
export interface ProbeOutcome {
  /** What it registered on ctx.registry, even when it failed. */
  families: MetricFamily[];
  /** What it logged through ctx.log. */
  logs: ProbeLogLine[];
  /** Why it failed, if it did. */
  error?: Error;
}

/** A host's log lines of a probe, checked: only strings and plain fields pass. */
function probeLogs(value: unknown): ProbeLogLine[] {
  if (!Array.isArray(value)) return [];
  return value.slice(0, PROBE_LOG_LINES + 1).flatMap((line) => {
    const { level, msg, fields } = (line ?? {}) as Partial<ProbeLogLine>;
    if (typeof level !== "string" || typeof msg !== "string") return [];
    const plain = typeof fields === "object" && fields !== null && !Array.isArray(fields)
      ? fields
      : undefined;
    return [{ level, msg, fields: plain }];
  });
}

/** Settles as `promise` does, or rejects with the signal's reason once it aborts. */
async function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) throw signal.reason;
  const aborted = Promise.withResolvers<never>();
  const onAbort = () => aborted.reject(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([promise, aborted.promise]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}

/** A placeholder in the server's registry for a metric that lives in a host: it holds the name. */
export function placeholder(name: string, type: string): PromMetric & { type: string } {
  return { name, type, get: () => ({ name, help: "", type, values: [] }) };
}

export class HostedModule implements LoadedModule {
  readonly owner: MetricOwner;
  quarantined: string | undefined;
  #families: MetricFamily[] = [];
  #dynamic = false;
  #loadedIn: HostProcess | undefined;
  #importing: Promise<HostProcess> | undefined;
  #retired = false;
  /**
   * A new version is loading and has taken this one's names: a run that answers meanwhile
   * must not take them back (the new version would fail to load), so its result is dropped.
   */
  replacing = false;
  /** Why its own host ended between runs (out of memory, over its budget): the next run reports it. */
  pendingError: Error | undefined;
  /** The version started a Worker: its host must end for the thread to stop. */
  startedThreads = false;
  /** The module's own `maxAge` export, if any. */
  maxAgeMs: number | undefined;
  /** Its probe exports, when it exports probe() (issue 20). */
  probeSettings: ProbeSettings | undefined;
  /** It exports no process(): nothing to schedule. */
  probeOnly = false;

  constructor(
    readonly supervisor: HostedModuleSupervisor,
    /** Where it runs: a suspect of the shared host's death moves to a host of its own. */
    public slot: HostSlot,
    public placement: Placement,
    readonly name: string,
    readonly file: string,
    readonly url: string,
    readonly version: number,
    /** The version's name in its host. */
    readonly key: string,
    readonly intervalMs: number | undefined,
    readonly timeoutMs: number | undefined,
    readonly helpers: string[],
    readonly spec: SandboxSpec | undefined,
    loadedIn: HostProcess,
  ) {
    this.owner = new MetricOwner(name);
    this.#loadedIn = loadedIn;
  }

  get loadedIn(): HostProcess | undefined {
    return this.#loadedIn;
  }

  get retired(): boolean {
    return this.#retired;
  }

  /** The version is retired: no run starts, no import into a new host. */
  retire(): void {
    this.#retired = true;
  }

  async invoke(ctx: ProcessContext, timeoutMs: number): Promise<void> {
    if (this.quarantined) throw new Error(this.quarantined);
    if (this.pendingError) {
      const err = this.pendingError;
      this.pendingError = undefined;
      throw err;
    }
    // Its host was replaced while a new version loads: importing this one into the new host
    // would take the metric names the new version is registering there (its result is dropped anyway).
    if (this.replacing && this.slot.current !== this.#loadedIn) return;
    const host = await this.#imported();
    if (ctx.signal.aborted) throw ctx.signal.reason;
    const id = host.nextId();
    const onAbort = () => host.send({ type: "abort", id: host.nextId(), run: id });
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    let reply: Reply<"result">;
    let families: MetricFamily[];
    try {
      reply = await host.request({ type: "run", id, key: this.key, timeoutMs }, "result", {
        timeoutMs,
        suspect: this.name,
      });
      if (reply.error) throw deserializeError(reply.error, this.placement, this.supervisor.ceiling);
      families = await this.#paged(host, id, reply.samples, reply.page, timeoutMs);
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
    }
    if (this.replacing) return;
    // A family with an invalid name or type holds no name: the exposition leaves it out, saying why.
    this.syncPlaceholders(families.filter((f) => validateFamilyHeader(f) === undefined));
    this.#families = families;
    this.#dynamic = reply.dynamic === true;
    this.supervisor.succeeded(this);
  }

  /**
   * Calls probe(target, ctx) in the version's host (issue 20) with `params`, the declared
   * ones. When `signal` aborts, the host is told to abort the call and has PROBE_ABORT_GRACE_MS
   * to answer, with the signal's reason as the error; past that, or when the call could not
   * start (its host still starting, say), it rejects. A probe that throws resolves, with its error.
   */
  async probe(
    target: string,
    params: Record<string, string>,
    timeoutMs: number,
    signal: AbortSignal,
  ): Promise<ProbeOutcome> {
    if (this.quarantined) throw new Error(this.quarantined);
    // A host restarting after a neighbour's death may take longer than the probe's timeout:
    // the probe answers at its timeout all the same (Prometheus has given up by then).
    const host = await untilAborted(this.#imported(), signal);
    const id = host.nextId();
    const aborted = Promise.withResolvers<never>();
    let grace: ReturnType<typeof setTimeout> | undefined;
    const onAbort = () => {
      if (host.alive) host.send({ type: "abort", id: host.nextId(), run: id });
      grace = setTimeout(() => aborted.reject(signal.reason), PROBE_ABORT_GRACE_MS);
    };
    signal.addEventListener("abort", onAbort, { once: true });
    const call = async (): Promise<ProbeOutcome> => {
      // A host death while the call runs is blamed on the target (process_host.ts).
      const reply = await host.request(
        { type: "probe", id, key: this.key, target, params, timeoutMs },
        "probed",
        { timeoutMs, suspect: this.name, target },
      );
      this.supervisor.probeAnswered(this, target);
      const families = reply.page === undefined
        ? []
        : await this.#paged(host, id, reply.samples, reply.page, timeoutMs, target);
      return {
        families,
        logs: probeLogs(reply.logs),
        // Aborted, the module's error is the abort's: the server's reason says which timeout.
        error: signal.aborted
          ? signal.reason
          : reply.error
          ? deserializeError(reply.error, this.placement)
          : undefined,
      };
    };
    try {
      return await Promise.race([call(), aborted.promise]);
    } finally {
      clearTimeout(grace);
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** validateTarget(target) in the version's host: true only when it said so. */
  async validateTarget(target: string, timeoutMs: number): Promise<boolean> {
    if (this.quarantined) throw new Error(this.quarantined);
    const host = await this.#imported();
    const reply = await host.request(
      { type: "validate", id: host.nextId(), key: this.key, target, timeoutMs },
      "validated",
      { timeoutMs, suspect: this.name, target },
    );
    if (reply.error) throw deserializeError(reply.error, this.placement);
    return reply.accepted === true;
  }

  /** Whether `target` is refused now: its probes ended the host too often (issue 20). */
  targetRefusal(target: string): TargetRefusal | undefined {
    return this.supervisor.targetRefusal(this, target);
  }

  metricNames(): string[] {
    return [...this.owner.metrics.keys()];
  }

  isDynamic(): boolean {
    return this.#dynamic;
  }

  /** The last run's families; a collect() of the live version when a metric computes its value at render time. */
  async families(): Promise<MetricFamily[]> {
    const host = this.#loadedIn;
    if (!this.#dynamic || !host?.alive || host !== this.slot.current) return this.#families;
    const id = host.nextId();
    const timeoutMs = this.timeoutMs ?? this.supervisor.loadTimeoutMs;
    const reply = await host.request({ type: "collect", id, key: this.key }, "families", {
      timeoutMs,
      suspect: this.name,
    });
    if (reply.error) throw deserializeError(reply.error, this.placement, this.supervisor.ceiling);
    const families = await this.#paged(host, id, reply.samples, reply.page, timeoutMs);
    const foreign = families.find((f) =>
      validateFamilyHeader(f) === undefined && !this.owner.metrics.has(f.name)
    );
    if (foreign) {
      throw new Error(`collect() rendered a family "${foreign.name}" that was not there after the last run`);
    }
    return families;
  }

  /** Calls dispose() in the version's host, if it is still there, within `timeoutMs`. */
  async dispose(timeoutMs: number): Promise<void> {
    this.#retired = true;
    const host = this.#loadedIn;
    if (!host?.alive || host !== this.slot.current) return;
    const reply = await host.request(
      { type: "dispose", id: host.nextId(), key: this.key, timeoutMs },
      "disposed",
      {
        timeoutMs,
        suspect: this.name,
      },
    );
    if (reply.threads === true) this.startedThreads = true;
    if (reply.error) throw deserializeError(reply.error, this.placement, this.supervisor.ceiling);
  }

  /** Lets the host forget the version (its metrics go with it). */
  release(): void {
    this.#retired = true;
    const host = this.#loadedIn;
    this.#loadedIn = undefined;
    if (host?.alive) host.send({ type: "release", id: host.nextId(), key: this.key });
  }

  /**
   * Holds the names of the version's metrics in the server's registry, so that no other
   * module can take them; throws, naming both, when another module holds one already.
   */
  syncPlaceholders(metrics: { name: string; type: string }[]): void {
    const wanted = new Map(metrics.map((m) => [m.name, m.type]));
    for (const [name, held] of [...this.owner.metrics]) {
      if (wanted.get(name) !== (held as { type?: string }).type) this.supervisor.drop(this.owner, name);
    }
    for (const [name, type] of wanted) {
      if (!this.owner.metrics.has(name)) this.supervisor.hold(this.owner, name, type);
    }
  }

  /** The slot's live host, with this version imported in it (again, after a restart). */
  #imported(): Promise<HostProcess> {
    if (this.#retired) return Promise.reject(new Error("the module was unloaded"));
    const current = this.slot.current;
    if (current?.alive && current === this.#loadedIn) return Promise.resolve(current);
    this.#importing ??= this.#reimport().finally(() => this.#importing = undefined);
    return this.#importing;
  }

  async #reimport(): Promise<HostProcess> {
    const host = await this.slot.get();
    if (this.#retired) throw new Error("the module was unloaded");
    const reply = await host.request(
      { type: "load", id: host.nextId(), key: this.key, name: this.name, file: this.file },
      "loaded",
      { timeoutMs: this.supervisor.loadTimeoutMs, suspect: this.name },
    ) as Reply<"loaded"> | Reply<"load-failed">;
    if (reply.type === "load-failed") {
      throw deserializeError(reply.error, this.placement, this.supervisor.ceiling);
    }
    this.#loadedIn = host;
    return host;
  }

  /**
   * The families a reply began (`samples` in all, `first` its first page), asked for page by
   * page; `target`: a probe's, blamed for a death meanwhile.
   */
  async #paged(
    host: HostProcess,
    of: number,
    samples: unknown,
    first: unknown,
    timeoutMs: number,
    target?: string,
  ): Promise<MetricFamily[]> {
    const bound = this.placement === "sandboxed" ? MAX_SANDBOXED_SAMPLES : MAX_SHARED_SAMPLES;
    const assembler = new FamilyAssembler(samples, bound);
    let next = assembler.add(first);
    while (next) {
      const reply = await host.request({ type: "page", id: host.nextId(), of, from: next }, "page", {
        timeoutMs,
        suspect: this.name,
        target,
      });
      if (reply.error) throw deserializeError(reply.error, this.placement, this.supervisor.ceiling);
      next = assembler.add(reply.page);
    }
    return assembler.families();
  }
}
