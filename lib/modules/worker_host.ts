/**
 * Runs a sandboxed module in a Worker of its own with exactly the permissions it declared.
 * Its metrics come back as families after each successful run; placeholders registered under
 * the module's name in the exporter's registry keep cross-module name ownership exact, so the
 * exposition, self-metrics and status page treat it like an in-process module.
 *
 * A run past its timeout is stopped by replacing the Worker (the next run gets a fresh one).
 * A Worker whose thread does not answer within a grace after that (a loop after an await,
 * which node:vm's watchdog cannot stop and terminate() does not stop on Deno 2.9.6) is left
 * to its thread and the module is quarantined until its file changes: one thread at most,
 * never one per retry.
 */

import { dirname } from "node:path";
import { pathToFileURL } from "node:url";
import { describeError } from "./describe_error.ts";
import { formatDuration } from "../duration.ts";
import type { MetricFamily } from "../exposition/format.ts";
import { LOG_LEVELS, type Logger, type LogLevel } from "../log.ts";
import { type LoadedModule, ModuleLoadError, type ProcessContext } from "./module_host.ts";
import { MetricOwner, type MetricOwnership, type PromMetric } from "./ownership.ts";
import { checkCeiling, emptySandbox, type SandboxSpec, sandboxSpec, workerPermissions } from "./sandbox.ts";
import { validateExports } from "./module_exports.ts";
import { VM_TIMEOUT_CODE } from "./guarded_call.ts";
import type { FromWorker, SerializedError, ToWorker } from "./worker_protocol.ts";
import { FamilyAssembler } from "./family_pages.ts";

/** How long a Worker has to answer after its run was aborted before it counts as runaway. */
export const ABORT_GRACE_MS = 1000;
/** Lines a sandboxed module may log per second; the rest are dropped and counted. */
export const LOG_LINES_PER_SECOND = 100;
/**
 * Messages a sandboxed module's Worker may post per second: each costs the exporter's event
 * loop its dispatch, so a Worker posting in a loop would stall every scrape. Past this it is
 * replaced, as a run past its timeout is.
 */
export const MESSAGES_PER_SECOND = 10_000;
/** The longest message or field value a sandboxed module's log line keeps. */
export const MAX_LOG_TEXT = 4096;

/** `value` as text (what a Worker posts may be cyclic, a BigInt, or refuse String()), cut to MAX_LOG_TEXT characters. */
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

/**
 * Samples a sandboxed module's run may hand back. The Worker's heap has a budget, but the
 * families it posts are copied into the exporter's own heap: a million series took the
 * exporter past 1.5 GB of RSS and its scrapes to seconds.
 */
export const MAX_SANDBOX_SAMPLES = 200_000;

/**
 * The families a Worker's reply began (`samples` in all, `first` its first page), asked for page
 * by page within MAX_SANDBOX_SAMPLES (family_pages.ts); throws on a page that is not one.
 */
async function pagedFamilies(
  session: Session,
  of: number,
  samples: unknown,
  first: unknown,
): Promise<MetricFamily[]> {
  const assembler = new FamilyAssembler(samples, MAX_SANDBOX_SAMPLES);
  let next = assembler.add(first);
  while (next) {
    const reply = await session.request({ type: "page", id: session.nextId(), of, from: next }, "page");
    if (reply.error) throw deserializeError(reply.error);
    next = assembler.add(reply.page);
  }
  return assembler.families();
}

/** How often idle Workers' memory is checked against their budget. */
const MEMORY_CHECK_MS = 5000;

const ENTRY = new URL("./worker_entry.ts", import.meta.url);

type Reply<T extends FromWorker["type"]> = Extract<FromWorker, { type: T }>;

/**
 * For a permission a sandboxed module was denied, where to declare it: the module's own
 * sandbox, not the exporter's flags (which the sandbox narrows).
 */
export function sandboxHint(message: string): string | undefined {
  const denied = /Requires (net|read|write|env|run|sys) access to "([^"]*)"/.exec(message);
  if (!denied) return undefined;
  return `declare it in the module's sandbox export: ${denied[1]}: [${JSON.stringify(denied[2])}]`;
}

/** Rebuilds a Worker's error so that describeError finds its line and permission hint. */
export function deserializeError(e: SerializedError): Error {
  const err = e.name === "NotCapable"
    ? new Deno.errors.NotCapable(e.message)
    : e.name === "PermissionDenied"
    ? new Deno.errors.PermissionDenied(e.message)
    : new Error(e.message);
  if (e.name !== "NotCapable" && e.name !== "PermissionDenied") err.name = e.name;
  if (e.stack) err.stack = e.stack;
  if (e.code !== undefined) (err as { code?: string }).code = e.code;
  const hint = e.name === "NotCapable" || e.name === "PermissionDenied" ? sandboxHint(e.message) : undefined;
  if (hint) (err as { hint?: string }).hint = hint;
  return err;
}

/** One live Worker and the requests waiting for its answers. */
class Session {
  readonly worker: Worker;
  readonly #waiting = new Map<number | string, { resolve(m: FromWorker): void; reject(e: Error): void }>();
  #dead: Error | undefined;
  #nextId = 1;

  constructor(
    permissions: Deno.PermissionOptionsObject,
    readonly name: string,
    readonly log: Logger,
    readonly onGone: (why: Error) => void,
  ) {
    this.worker = new Worker(ENTRY, {
      type: "module",
      name: `module ${name}`,
      deno: { permissions },
    } as WorkerOptions);
    this.worker.onmessage = (event: MessageEvent<FromWorker>) => this.#receive(event.data);
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.kill(new Error(`the module's Worker failed: ${event.message}`));
    };
    this.worker.onmessageerror = () => {};
  }

  get alive(): boolean {
    return this.#dead === undefined;
  }

  nextId(): number {
    return this.#nextId++;
  }

  /** Sends `message` and waits for the reply of type `type` (with the same id, if it has one). */
  request<T extends FromWorker["type"]>(message: ToWorker, type: T): Promise<Reply<T>> {
    if (this.#dead) return Promise.reject(this.#dead);
    const key = "id" in message ? message.id : type;
    const reply = new Promise<FromWorker>((resolve, reject) => this.#waiting.set(key, { resolve, reject }));
    this.worker.postMessage(message);
    return reply as Promise<Reply<T>>;
  }

  /** Ends the Worker (the thread may spin on if it is in a loop) and fails what waits on it. */
  kill(why: Error): void {
    if (this.#dead) return;
    this.#dead = why;
    this.worker.terminate();
    for (const waiter of this.#waiting.values()) waiter.reject(why);
    this.#waiting.clear();
    this.onGone(why);
  }

  /** The module's messages and log lines in the current one-second window, and the lines dropped in it. */
  #window = { start: 0, messages: 0, lines: 0, dropped: 0 };

  /** Counts a message; false (the Worker is then replaced) once the window holds too many. */
  #count(): boolean {
    const now = performance.now();
    if (now - this.#window.start >= 1000) {
      this.#reportDropped();
      this.#window = { start: now, messages: 0, lines: 0, dropped: 0 };
    }
    if (++this.#window.messages <= MESSAGES_PER_SECOND) return true;
    this.#reportDropped();
    this.kill(
      new Error(
        `the module's Worker posted more than ${MESSAGES_PER_SECOND} messages in a second; it was replaced`,
      ),
    );
    return false;
  }

  #reportDropped(): void {
    if (this.#window.dropped === 0) return;
    this.log.warn("sandboxed module log lines dropped", {
      module: this.name,
      dropped: this.#window.dropped,
      limit_per_second: LOG_LINES_PER_SECOND,
    });
    this.#window.dropped = 0;
  }

  /**
   * A line the module logs. The module owns its Worker and may post anything, so the line is
   * checked, cut to size and rate-limited here: 1e5 lines a run, or one line of 20 MB, used to
   * hold the exporter's event loop for seconds.
   */
  #logLine(level: unknown, msg: unknown, fields: unknown): void {
    if (++this.#window.lines > LOG_LINES_PER_SECOND) {
      this.#window.dropped++;
      return;
    }
    const bounded: Record<string, unknown> = {};
    if (typeof fields === "object" && fields !== null) {
      for (const [key, value] of Object.entries(fields).slice(0, 32)) {
        bounded[cut(key)] = typeof value === "string" || (typeof value === "object" && value !== null) ||
            typeof value === "bigint"
          ? cut(value)
          : value;
      }
    }
    const write = LOG_LEVELS.includes(level as LogLevel) ? level as LogLevel : "info";
    this.log[write](cut(msg), { ...bounded, module: this.name });
  }

  #receive(message: FromWorker): void {
    if (!this.alive || !this.#count() || typeof message !== "object" || message === null) return;
    switch (message.type) {
      case "log":
        this.#logLine(message.level, message.msg, message.fields);
        return;
      case "uncaught":
        this.log.warn("sandboxed module: uncaught error, ignored", {
          module: this.name,
          err: cut((message.error as { message?: unknown } | null)?.message ?? message.error),
        });
        return;
      case "exit":
        this.kill(new Error(`the module ended its Worker with exit(${message.code})`));
        return;
    }
    const key = "id" in message ? message.id : message.type === "load-failed" ? "loaded" : message.type;
    const waiter = this.#waiting.get(key);
    if (!waiter) return;
    this.#waiting.delete(key);
    waiter.resolve(message);
  }
}

/** A placeholder in the exporter's registry for a metric that lives in a Worker: it holds the name. */
function placeholder(name: string, type: string): PromMetric & { type: string } {
  return { name, type, get: () => ({ name, help: "", type, values: [] }) };
}

export interface WorkerHostOptions {
  ownership: MetricOwnership;
  log: Logger;
  /** The metrics dir: readable by every sandboxed module (its own file and its helpers). */
  metricsDir: string;
  loadTimeoutMs: number;
}

export class WorkerModule implements LoadedModule {
  readonly owner: MetricOwner;
  #session: Session | undefined;
  #quarantined: string | undefined;
  /** Why the Worker was replaced between runs (its memory budget), told by the next run. */
  #pendingError: Error | undefined;
  #families: MetricFamily[] = [];
  #dynamic = false;
  #retired = false;
  /**
   * A new version is loading and has taken this one's names: a run that answers meanwhile
   * must not take them back (the new version would fail to load), so its result is dropped.
   */
  replacing = false;

  constructor(
    readonly host: WorkerHost,
    readonly name: string,
    readonly file: string,
    readonly url: string,
    readonly version: number,
    readonly spec: SandboxSpec,
    readonly permissions: Deno.PermissionOptionsObject,
    readonly intervalMs: number | undefined,
    readonly timeoutMs: number | undefined,
    session: Session,
    /** The local files it imports (its helpers): a change to one reloads it. */
    readonly helpers: string[],
  ) {
    this.owner = new MetricOwner(name);
    this.#session = session;
  }

  get session(): Session | undefined {
    return this.#session;
  }

  get quarantined(): string | undefined {
    return this.#quarantined;
  }

  async invoke(ctx: ProcessContext, timeoutMs: number): Promise<void> {
    if (this.#quarantined) throw new Error(this.#quarantined);
    if (this.#pendingError) {
      const err = this.#pendingError;
      this.#pendingError = undefined;
      throw err;
    }
    const session = this.#session?.alive ? this.#session : await this.#fresh();
    const id = session.nextId();
    const onAbort = () => this.#stop(session, id);
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    let reply: Reply<"result">;
    let families: MetricFamily[];
    // Until the last page has come: a Worker that stops answering is stopped at the run's timeout.
    try {
      reply = await session.request({ type: "run", id, timeoutMs }, "result");
      if (reply.error) {
        // The Worker's watchdog stopped a synchronous loop: its isolate may hold a pending
        // termination, so the next run gets a fresh Worker.
        if (reply.error.code === VM_TIMEOUT_CODE) session.kill(new Error("process() timed out"));
        throw deserializeError(reply.error);
      }
      if (reply.heapUsed > this.spec.memoryBytes) {
        session.kill(new Error("over its memory budget"));
        throw this.#overBudget(reply.heapUsed);
      }
      families = await pagedFamilies(session, id, reply.samples, reply.page);
    } finally {
      ctx.signal.removeEventListener("abort", onAbort);
    }
    if (this.replacing) return;
    this.syncPlaceholders(families);
    this.#families = families;
    this.#dynamic = reply.dynamic ?? false;
  }

  metricNames(): string[] {
    return [...this.owner.metrics.keys()];
  }

  isDynamic(): boolean {
    return this.#dynamic;
  }

  async families(): Promise<MetricFamily[]> {
    const session = this.#session;
    if (!this.#dynamic || !session?.alive) return this.#families;
    const id = session.nextId();
    const reply = await session.request({ type: "collect", id }, "families");
    if (reply.error) throw deserializeError(reply.error);
    const families = await pagedFamilies(session, id, reply.samples, reply.page);
    const foreign = families.find((f) => !this.owner.metrics.has(f.name));
    if (foreign) {
      throw new Error(`collect() rendered a family "${foreign.name}" that was not there after the last run`);
    }
    return families;
  }

  /** Checks the idle Worker's heap against the budget; replaces it when over. */
  async checkMemory(): Promise<void> {
    const session = this.#session;
    if (!session?.alive) return;
    const reply = await Promise.race([
      session.request({ type: "memory", id: session.nextId() }, "memory"),
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ABORT_GRACE_MS)),
    ]).catch(() => undefined);
    if (reply && reply.heapUsed > this.spec.memoryBytes && session.alive) {
      this.#pendingError = this.#overBudget(reply.heapUsed);
      this.host.log.warn("sandboxed module over its memory budget; its Worker was replaced", {
        module: this.name,
        heap_bytes: reply.heapUsed,
        budget_bytes: this.spec.memoryBytes,
      });
      session.kill(this.#pendingError);
    }
  }

  /** Calls dispose() in the Worker (bounded), then ends the Worker: its memory goes with it. */
  async dispose(timeoutMs: number): Promise<void> {
    this.#retired = true;
    const session = this.#session;
    this.#session = undefined;
    if (!session?.alive) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const reply = await Promise.race([
        session.request({ type: "dispose", id: session.nextId(), timeoutMs }, "disposed"),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error("dispose() timed out")), timeoutMs + ABORT_GRACE_MS);
        }),
      ]);
      if (reply.error) throw deserializeError(reply.error);
    } finally {
      clearTimeout(timer);
      session.kill(new Error("retired"));
    }
  }

  /** Ends the Worker without dispose(). */
  terminate(): void {
    this.#retired = true;
    this.#session?.kill(new Error("retired"));
    this.#session = undefined;
  }

  #overBudget(heapUsed: number): Error {
    const mb = (n: number) => `${Math.round(n / 1e6)} MB`;
    return new Error(
      `the module's Worker used ${mb(heapUsed)} of heap, over its ${mb(this.spec.memoryBytes)} budget ` +
        `(sandbox.memory); it was replaced`,
    );
  }

  /** A run passed its timeout: stop it by replacing the Worker; quarantine the module if the thread does not answer. */
  #stop(session: Session, id: number): void {
    if (!session.alive) return;
    const replaced = new Error("process() timed out; its Worker was replaced");
    // A Worker that answers is free: end it now, with whatever its process() left pending (and
    // the check for a thread that does not answer with it).
    session.request({ type: "abort", id }, "aborted").then(() => {
      clearTimeout(runaway);
      session.kill(replaced);
    }, () => {});
    const runaway = setTimeout(() => {
      if (!session.alive) return;
      if (!this.#retired) {
        this.#quarantined =
          `process() kept its Worker's thread busy ${formatDuration(ABORT_GRACE_MS)} past ` +
          `its timeout (a loop after an await?); the module is quarantined until its file changes`;
        this.host.quarantine(this);
        this.host.log.error("sandboxed module quarantined: its Worker does not answer", {
          module: this.name,
          file: this.file,
        });
      }
      session.kill(replaced);
    }, ABORT_GRACE_MS);
  }

  async #fresh(): Promise<Session> {
    const { session } = await this.host.spawn(this.name, this.url, this.permissions);
    if (this.#retired) {
      session.kill(new Error("retired"));
      throw new Error("the module was unloaded");
    }
    this.#session = session;
    return session;
  }

  /**
   * Holds the names of the Worker's metrics in the exporter's registry, so that no other
   * module can take them; throws, naming both, when another module holds one already.
   */
  syncPlaceholders(metrics: { name: string; type: string }[]): void {
    const wanted = new Map(metrics.map((m) => [m.name, m.type]));
    for (const [name, held] of [...this.owner.metrics]) {
      if (wanted.get(name) !== (held as { type?: string }).type) {
        this.host.ownership.releaseOne(this.owner, name);
      }
    }
    for (const [name, type] of wanted) {
      if (!this.owner.metrics.has(name)) this.host.ownership.registerAs(this.owner, placeholder(name, type));
    }
  }
}

export class WorkerHost {
  readonly ownership: MetricOwnership;
  readonly log: Logger;
  readonly #options: WorkerHostOptions;
  readonly #live = new Set<WorkerModule>();
  /**
   * Files whose import or process() kept a Worker's thread busy, by path: the content then, and
   * why. The same content is not loaded again: each reload (SIGHUP, a helper change, the
   * periodic retry) would start one more runaway thread.
   */
  readonly #runaway = new Map<string, { source: string; reason: string }>();
  readonly #sources = new WeakMap<WorkerModule, string>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #version = 0;

  constructor(options: WorkerHostOptions) {
    this.#options = options;
    this.ownership = options.ownership;
    this.log = options.log;
  }

  /**
   * Loads `file` as sandboxed module `name`: `source` is the content `spec` was read from, and
   * `helpers` the local files it imports.
   */
  async load(
    name: string,
    file: string,
    { spec, source, helpers }: { spec: SandboxSpec; source: string; helpers: string[] },
  ): Promise<WorkerModule> {
    const version = ++this.#version;
    let url = "";
    try {
      const real = await Deno.realPath(file);
      url = pathToFileURL(real).href;
      const runaway = this.#runaway.get(file);
      if (runaway?.source === source) throw new Error(runaway.reason);
      await checkCeiling(spec);
      const permissions = workerPermissions(spec, this.#options.metricsDir);
      if (dirname(real) !== this.#options.metricsDir && Array.isArray(permissions.read)) {
        permissions.read.push(dirname(real));
      }
      const { session, loaded } = await this.spawn(
        name,
        url,
        permissions,
        () =>
          this.#runaway.set(file, {
            source,
            reason:
              "its import kept a Worker's thread busy (a loop at the top level?); change the file to try again",
          }),
      );
      let settings;
      let module: WorkerModule;
      try {
        settings = validateExports(loaded.exports);
        // No export at all grants nothing (a literal the reader found but the module does
        // not export must not widen it); an export must say what the literal said.
        const declared = loaded.exports.sandbox;
        const actual = declared === null ? emptySandbox() : sandboxSpec(declared);
        if (JSON.stringify(actual) !== JSON.stringify(spec)) {
          throw new Error(
            `its "sandbox" export differs from the literal in its source; export a plain literal`,
          );
        }
        module = new WorkerModule(
          this,
          name,
          file,
          url,
          version,
          spec,
          permissions,
          settings.intervalMs,
          settings.timeoutMs,
          session,
          helpers,
        );
        module.syncPlaceholders(loaded.metrics);
      } catch (err) {
        session.kill(err as Error);
        throw err;
      }
      this.#live.add(module);
      this.#sources.set(module, source);
      this.#timer ??= setInterval(() => this.#checkMemory(), MEMORY_CHECK_MS);
      return module;
    } catch (err) {
      if (err instanceof ModuleLoadError) throw err;
      const { message, line, column, hint } = describeError(err, url);
      throw new ModuleLoadError(name, file, message, line, column, hint, { cause: err });
    }
  }

  /**
   * Starts a Worker and imports the module in it, bounded by the load timeout. A Worker that
   * does not even answer then is stuck in the module's top level: `onRunaway` is told.
   */
  async spawn(
    name: string,
    url: string,
    permissions: Deno.PermissionOptionsObject,
    onRunaway?: () => void,
  ): Promise<{ session: Session; loaded: Reply<"loaded"> }> {
    const session = new Session(permissions, name, this.log, () => {});
    const ms = this.#options.loadTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const reply = await Promise.race([
        session.request({ type: "load", url, name }, "loaded") as Promise<
          Reply<"loaded"> | Reply<"load-failed">
        >,
        new Promise<"late">((resolve) => timer = setTimeout(() => resolve("late"), ms)),
      ]);
      if (reply === "late") {
        const answers = await Promise.race([
          session.request({ type: "memory", id: session.nextId() }, "memory").then(() => true, () => false),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ABORT_GRACE_MS)),
        ]);
        if (!answers) onRunaway?.();
        throw new Error(
          answers
            ? `import did not finish within ${formatDuration(ms)} (a top-level await?)`
            : `import kept the Worker's thread busy past ${formatDuration(ms)} (a loop at the top level?)`,
        );
      }
      if (reply.type === "load-failed") throw deserializeError(reply.error);
      return { session, loaded: reply };
    } catch (err) {
      session.kill(err as Error);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** `module`'s file, as it is now, is not loaded again: its Worker's thread runs away. */
  quarantine(module: WorkerModule): void {
    const source = this.#sources.get(module);
    if (source === undefined) return;
    this.#runaway.set(module.file, {
      source,
      reason:
        "its process() kept its Worker's thread busy past its timeout; it is quarantined until its file changes",
    });
  }

  /** dispose() in the Worker, then the Worker ends and the version is retired (its placeholders go). */
  async dispose(module: WorkerModule, timeoutMs: number): Promise<void> {
    this.#live.delete(module);
    try {
      await module.dispose(timeoutMs);
    } finally {
      this.ownership.retire(module.owner);
    }
  }

  release(module: WorkerModule): void {
    this.#live.delete(module);
    module.terminate();
    this.ownership.release(module.owner);
  }

  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const module of this.#live) module.terminate();
    this.#live.clear();
  }

  #checkMemory(): void {
    for (const module of this.#live) module.checkMemory();
  }
}
