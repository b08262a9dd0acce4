/**
 * A module host: the process that runs module code, started by the exporter (lib/supervisor/)
 * from its own executable. It imports modules with cache-busted import() (lib/modules/
 * in_process_host.ts, whose metric ownership keeps each module's metrics its own), runs
 * process() under node:vm's timeout, and answers the server's messages on stdin with frames on
 * stdout (lib/host_protocol.ts). Nothing here trusts the modules: every failure becomes a
 * message, never an uncaught error; and what a module could do to the host (a loop, an
 * out-of-memory) ends the host, not the exporter, which kills and restarts it.
 */

import { AsyncLocalStorage } from "node:async_hooks";
import nodeProcess from "node:process";
import { Counter, Gauge, Histogram, register, Registry, Summary } from "prom-client";
import { errorChain } from "../modules/describe_error.ts";
import { installExitGuard } from "../modules/exit_guard.ts";
import { type Page, pageOf, sampleCount } from "../modules/family_pages.ts";
import { InProcessHost, InProcessModule } from "../modules/in_process_host.ts";
import { ModuleLoadError, type ModuleLog } from "../modules/module_host.ts";
import { MetricOwnership, type PromRegistry } from "../modules/ownership.ts";
import type { MetricFamily } from "../exposition/format.ts";
import { probeShape } from "../modules/probe_exports.ts";
import { within } from "../long_timer.ts";
import type { FixtureMode } from "./fixture_shim.ts";
import {
  encodeFrame,
  FrameDecoder,
  type FromHost,
  MAX_FRAME_BYTES,
  PROBE_LOG_LINES,
  type ProbeLogLine,
  type SerializedError,
  type ToHost,
} from "../host_protocol.ts";

/** What the server says on the host's command line. */
export interface HostArgs {
  /** Shown in `ps`: "shared", or the module's name. */
  name: string;
  /** The import timeout. */
  loadTimeoutMs: number;
  /** Permission kinds to revoke before any module loads (the compiled binary, whose permissions are baked). */
  revoke: Deno.PermissionName[];
  /** `test-module` (issue 19): record what modules ask their backend, or replay fixtures to them. */
  fixtures?: FixtureMode;
}

export function parseHostArgs(args: string[]): HostArgs {
  const value = (key: string) => args.find((a) => a.startsWith(`--${key}=`))?.slice(key.length + 3);
  return {
    name: value("name") ?? "shared",
    loadTimeoutMs: Number(value("load-timeout-ms") ?? 5000),
    revoke: (value("revoke") ?? "").split(",").filter(Boolean) as Deno.PermissionName[],
    fixtures: ["record", "replay"].includes(value("fixtures") ?? "")
      ? value("fixtures") as FixtureMode
      : undefined,
  };
}

/** Snapshots kept at once for "page": a run's and a few collect()s' per module. */
const UNPAGED_KEPT = 16;

function serialize(err: unknown): SerializedError {
  const e = err instanceof ModuleLoadError ? err.cause ?? err : err;
  const out: SerializedError & { line?: number; column?: number; hint?: string } = {
    name: e instanceof Error ? e.name : "Error",
    message: err instanceof ModuleLoadError ? err.reason : errorChain(err),
    stack: e instanceof Error ? e.stack : undefined,
    code: (e as { code?: unknown })?.code === undefined ? undefined : String((e as { code?: unknown }).code),
  };
  if (err instanceof ModuleLoadError) {
    out.line = err.line;
    out.column = err.column;
    out.hint = err.hint;
  }
  return out;
}

function safeJson(value: unknown): unknown {
  try {
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
  } catch {
    return String(value);
  }
}

/** Plain data for a log line: what JSON cannot carry is turned into text. */
function plainFields(fields: unknown): Record<string, unknown> | undefined {
  if (typeof fields !== "object" || fields === null) return undefined;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    out[key] = value instanceof Error
      ? errorChain(value)
      : typeof value === "object" && value !== null
      ? safeJson(value)
      : typeof value === "function" || typeof value === "symbol" || typeof value === "bigint"
      ? String(value)
      : value;
  }
  return out;
}

function typeOf(metric: unknown): string {
  if (metric instanceof Counter) return "counter";
  if (metric instanceof Gauge) return "gauge";
  if (metric instanceof Histogram) return "histogram";
  if (metric instanceof Summary) return "summary";
  return String((metric as { type?: unknown }).type ?? "");
}

/** Writes frames to the real stdout, which modules no longer reach (see hideStdout). */
function frameWriter(): (message: FromHost) => void {
  const stdout = Deno.stdout;
  return (message) => {
    let frame: Uint8Array;
    try {
      frame = encodeFrame(message);
    } catch {
      // A field JSON cannot carry: drop the message rather than the host.
      return;
    }
    // A module's log line over the frame bound would have the server kill this host (and
    // every module in it): drop the line instead.
    if (frame.length - 4 > MAX_FRAME_BYTES && (message.type === "log" || message.type === "uncaught")) return;
    // Synchronous, so frames never interleave; the server reads continuously.
    let written = 0;
    while (written < frame.length) written += stdout.writeSync(frame.subarray(written));
  };
}

/**
 * Module output must not reach stdout, where it would break the frames: console and a module's
 * `Deno.stdout`/`process.stdout` writes become log lines of the module that made them.
 */
function hideStdout(line: (level: string, text: string) => void): void {
  const levels: Record<string, string> = {
    debug: "debug",
    log: "info",
    info: "info",
    warn: "warn",
    error: "error",
  };
  const text = (args: unknown[]) =>
    args.map((a) => typeof a === "string" ? a : a instanceof Error ? errorChain(a) : Deno.inspect(a)).join(
      " ",
    );
  const target = console as unknown as Record<string, unknown>;
  for (const [method, level] of Object.entries(levels)) {
    target[method] = (...args: unknown[]) => line(level, text(args));
  }
  target.trace = (...args: unknown[]) => line("info", text(args));
  target.table = (...args: unknown[]) => line("info", text(args));
  target.dir = (...args: unknown[]) => line("info", text(args));
  const decoder = new TextDecoder();
  const fake = {
    write: (p: Uint8Array) => {
      line("info", decoder.decode(p).trimEnd());
      return Promise.resolve(p.length);
    },
    writeSync: (p: Uint8Array) => {
      line("info", decoder.decode(p).trimEnd());
      return p.length;
    },
    close() {},
    isTerminal: () => false,
    get writable() {
      return new WritableStream<Uint8Array>({ write: (chunk) => void fake.writeSync(chunk) });
    },
  };
  Object.defineProperty(Deno, "stdout", { value: fake, configurable: false, writable: false });
  try {
    Object.defineProperty(nodeProcess, "stdout", {
      value: { write: (s: unknown) => (line("info", String(s)), true) },
    });
  } catch {
    // node:process keeps its own stdout: it writes through Deno.stdout, hidden above.
  }
}

function memory(): { heapUsed: number; rss: number } {
  const { heapUsed, rss } = Deno.memoryUsage();
  return { heapUsed, rss };
}

/** Runs the host until its stdin closes (the server is gone or let it go), then exits. */
export async function runHost(args: HostArgs): Promise<never> {
  for (const name of args.revoke) {
    try {
      Deno.permissions.revokeSync({ name } as Deno.PermissionDescriptor);
    } catch {
      // A kind this Deno cannot revoke: it was not granted to begin with.
    }
  }
  // The server stops its hosts (dispose(), then SIGKILL): a SIGTERM or SIGINT that reaches the
  // whole process group (systemd's KillMode=control-group, Ctrl-C) must not end them first.
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) Deno.addSignalListener(signal, () => {});
  const send = frameWriter();
  // Before anything of a module's: its top-level code may capture fetch.
  // Loaded only by a test-module host: the exporter's hosts never pay for it.
  const fixtures = args.fixtures
    ? new (await import("./fixture_shim.ts")).FixtureShim(args.fixtures)
    : undefined;
  fixtures?.install();
  const ownership = new MetricOwnership(register as unknown as PromRegistry);
  const modules = new Map<string, InProcessModule>();
  /** The module whose code runs now, for a console line: its name. */
  const currentModule = () => ownership.current()?.module || undefined;
  /** The probe call whose code runs now, for a console line: `&debug=true` shows it with the probe's own lines. */
  const probeConsole = new AsyncLocalStorage<(level: string, msg: string) => void>();
  hideStdout((level, msg) => {
    probeConsole.getStore()?.(level, msg);
    send({ type: "log", key: currentModule(), level, msg });
  });
  // Before any module loads: a module's exit throws in the module (the host would end, and
  // its neighbours with it).
  const { exit } = installExitGuard();
  const globals = globalThis as unknown as Record<string, unknown>;
  globals.close = () => {
    throw new Error("close() is not allowed in a module; the exporter keeps running");
  };
  // A property added to Object.prototype reaches every object: a `then` there makes every
  // object a thenable and every await in this host misbehave. Existing properties stay writable.
  Object.preventExtensions(Object.prototype);
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    send({ type: "uncaught", key: currentModule(), error: serialize(event.error ?? event.message) });
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    send({ type: "uncaught", key: currentModule(), error: serialize(event.reason) });
  });

  // A Worker a module starts may spin on after the module is gone (terminate() does not stop
  // a loop on Deno 2.9.6): remember who started one, so the server replaces this host then.
  const startedWorkers = new Set<string>();
  const NativeWorker = globalThis.Worker;
  globals.Worker = class extends NativeWorker {
    constructor(...args: ConstructorParameters<typeof Worker>) {
      super(...args);
      const module = currentModule();
      if (module) startedWorkers.add(module);
    }
  };
  const host = new InProcessHost(ownership, { loadTimeoutMs: args.loadTimeoutMs, sandboxExport: true });
  const running = new Map<number, AbortController>();
  /** Families handed back whose later pages the server has yet to ask for, by the reply's id. */
  const unpaged = new Map<number, MetricFamily[]>();

  const logOf = (name: string): ModuleLog =>
    Object.fromEntries(
      (["debug", "info", "warn", "error"] as const).map((level) => [
        level,
        (msg: unknown, fields?: unknown) =>
          send({ type: "log", key: name, level, msg: String(msg), fields: plainFields(fields) }),
      ]),
    ) as unknown as ModuleLog;

  const snapshot = async (
    id: number,
    module: InProcessModule,
    read: () => Promise<MetricFamily[]> = () => module.families(),
  ): Promise<{ samples: number; page: Page }> => {
    const families = await read();
    const page = pageOf(families);
    if (page.next) {
      unpaged.set(id, families);
      for (const old of unpaged.keys()) if (unpaged.size > UNPAGED_KEPT) unpaged.delete(old);
    }
    return { samples: sampleCount(families), page };
  };

  const find = (key: string): InProcessModule => {
    const module = modules.get(key);
    if (!module) throw new Error(`no module version ${key} in this host`);
    return module;
  };

  /**
   * probe(target, ctx) with a registry of the call's own (issue 20). What it registered is
   * handed back even when it throws: blackbox serves a failed probe's metrics too.
   */
  const probe = async (message: Extract<ToHost, { type: "probe" }>): Promise<void> => {
    const controller = new AbortController();
    running.set(message.id, controller);
    const registry = new Registry();
    const logs: ProbeLogLine[] = [];
    let dropped = 0;
    let error: SerializedError | undefined;
    let module: InProcessModule | undefined;
    const timer = setTimeout(
      () => controller.abort(new DOMException("probe() timed out", "TimeoutError")),
      message.timeoutMs,
    );
    try {
      module = find(message.key);
      const base = logOf(module.name);
      const keep = (level: string, msg: string, fields?: unknown) => {
        if (logs.length < PROBE_LOG_LINES) logs.push({ level, msg, fields: plainFields(fields) });
        else dropped++;
      };
      const log = Object.fromEntries(
        (["debug", "info", "warn", "error"] as const).map((level) => [
          level,
          (msg: unknown, fields?: unknown) => {
            keep(level, String(msg), fields);
            base[level](msg as string, fields as Record<string, unknown>);
          },
        ]),
      ) as unknown as ModuleLog;
      const ctx = { registry, params: message.params, signal: controller.signal, log, module: module.name };
      const called = module;
      await within(
        // Its console lines are its log lines too, this call's and no other's (concurrent probes run in one host).
        Promise.resolve(probeConsole.run(keep, () => called.probe(message.target, ctx, message.timeoutMs))),
        message.timeoutMs,
        () => new Error("probe() timed out"),
      );
    } catch (err) {
      error = serialize(err);
    } finally {
      clearTimeout(timer);
      running.delete(message.id);
    }
    if (dropped > 0) logs.push({ level: "warn", msg: `${dropped} more lines left out` });
    try {
      const families = module
        ? await snapshot(
          message.id,
          module,
          () =>
            module!.ownership.runAs(module!.owner, () => registry.getMetricsAsJSON()) as unknown as Promise<
              MetricFamily[]
            >,
        )
        : {};
      send({ type: "probed", id: message.id, error, logs, ...families });
    } catch (err) {
      send({ type: "probed", id: message.id, error: error ?? serialize(err), logs });
    }
  };

  const handle = async (message: ToHost): Promise<void> => {
    if (
      message.type === "load" || message.type === "run" || message.type === "collect" ||
      message.type === "dispose" || message.type === "probe" || message.type === "validate"
    ) {
      send({ type: "started", id: message.id });
    }
    switch (message.type) {
      case "ping":
        send({ type: "pong", id: message.id, ...memory() });
        return;
      case "load": {
        try {
          const previous = message.previous === undefined ? undefined : modules.get(message.previous);
          const module = await host.load(message.name, message.file, previous) as InProcessModule;
          modules.set(message.key, module);
          const { exports } = module;
          send({
            type: "loaded",
            id: message.id,
            exports: {
              process: typeof exports.process,
              dispose: typeof exports.dispose,
              interval: safeJson(exports.interval),
              timeout: safeJson(exports.timeout),
              maxAge: safeJson(exports.maxAge),
              sandbox: exports.sandbox === undefined ? null : safeJson(exports.sandbox),
              ...probeShape(exports),
            },
            metrics: [...module.owner.metrics].map(([name, metric]) => ({ name, type: typeOf(metric) })),
          });
        } catch (err) {
          send({ type: "load-failed", id: message.id, error: serialize(err) });
        }
        return;
      }
      case "run": {
        const controller = new AbortController();
        running.set(message.id, controller);
        try {
          const module = find(message.key);
          const ctx = { signal: controller.signal, log: logOf(module.name), module: module.name };
          await module.invoke(ctx, message.timeoutMs);
          const families = await snapshot(message.id, module);
          send({ type: "result", id: message.id, ...families, dynamic: module.isDynamic() });
        } catch (err) {
          send({ type: "result", id: message.id, error: serialize(err) });
        } finally {
          running.delete(message.id);
        }
        return;
      }
      case "probe":
        await probe(message);
        return;
      case "validate":
        try {
          const accepted = await find(message.key).validateTarget(message.target, message.timeoutMs);
          send({ type: "validated", id: message.id, accepted });
        } catch (err) {
          send({ type: "validated", id: message.id, error: serialize(err) });
        }
        return;
      case "fixture":
        try {
          if (!fixtures) throw new Error("this host was not started for test-module (--fixtures)");
          send({
            type: "fixture-set",
            id: message.id,
            recorded: fixtures.next(message.label, message.base, message.replay),
          });
        } catch (err) {
          send({ type: "fixture-set", id: message.id, error: serialize(err) });
        }
        return;
      case "abort":
        running.get(message.run)?.abort(new DOMException("process() timed out", "TimeoutError"));
        return;
      case "collect":
        try {
          send({ type: "families", id: message.id, ...await snapshot(message.id, find(message.key)) });
        } catch (err) {
          send({ type: "families", id: message.id, error: serialize(err) });
        }
        return;
      case "page": {
        const families = unpaged.get(message.of);
        if (!families) {
          send({
            type: "page",
            id: message.id,
            error: serialize(new Error("those families are no longer kept")),
          });
          return;
        }
        const page = pageOf(families, message.from);
        if (!page.next) unpaged.delete(message.of);
        send({ type: "page", id: message.id, page });
        return;
      }
      case "dispose": {
        const module = modules.get(message.key);
        try {
          if (module) await host.dispose(module, message.timeoutMs);
          send({ type: "disposed", id: message.id, threads: module && startedWorkers.has(module.name) });
        } catch (err) {
          send({
            type: "disposed",
            id: message.id,
            error: serialize(err),
            threads: module && startedWorkers.has(module.name),
          });
        }
        return;
      }
      case "release": {
        const module = modules.get(message.key);
        modules.delete(message.key);
        if (module) host.release(module);
        send({ type: "released", id: message.id });
        return;
      }
    }
  };

  const decoder = new FrameDecoder();
  for await (const chunk of Deno.stdin.readable) {
    let messages: unknown[];
    try {
      messages = decoder.push(chunk);
    } catch {
      break; // the server's frames are never bad: it is not the server talking
    }
    for (const message of messages) handle(message as ToHost);
  }
  // The modules' timers would keep the host alive without its server.
  return exit(0);
}
