/**
 * The Worker side of a sandboxed module: imports the module with the Worker's narrowed
 * permissions, runs process() under node:vm's timeout (terminate() alone does not stop a
 * synchronous loop on Deno 2.9.6), and sends back results and rendered metric families.
 * Nothing here trusts the module: every failure becomes a message, never an uncaught error.
 */

import process from "node:process";
import { register } from "prom-client";
import { errorChain } from "./describe_error.ts";
import { GuardedCaller } from "./guarded_call.ts";
import type { FromWorker, SerializedError, ToWorker } from "./worker_protocol.ts";
import type { MetricFamily } from "../exposition/format.ts";
import { type Page, pageOf, sampleCount } from "./family_pages.ts";

type Exports = Record<string, unknown>;

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
  addEventListener: typeof globalThis.addEventListener;
};

const caller = new GuardedCaller();
let exports: Exports | undefined;
let moduleName = "";
const running = new Map<number, AbortController>();

function post(message: FromWorker): void {
  try {
    scope.postMessage(message);
  } catch {
    // A message that cannot be cloned (a log field, say): drop it rather than the Worker.
  }
}

function serialize(err: unknown): SerializedError {
  return {
    name: err instanceof Error ? err.name : "Error",
    message: errorChain(err),
    stack: err instanceof Error ? err.stack : undefined,
    code: (err as { code?: unknown })?.code === undefined
      ? undefined
      : String((err as { code?: unknown }).code),
  };
}

/** Plain data for a log line: what cannot be cloned is turned into text. */
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

function safeJson(value: object): unknown {
  try {
    return JSON.parse(JSON.stringify(value));
  } catch {
    return String(value);
  }
}

const log = Object.fromEntries(
  (["debug", "info", "warn", "error"] as const).map((level) => [
    level,
    (msg: unknown, fields?: unknown) =>
      post({ type: "log", level, msg: String(msg), fields: plainFields(fields) }),
  ]),
);

// A module that ends its Worker is reported, not silent: say so before the Worker goes.
for (const target of [Deno, process] as { exit: (code?: number) => never }[]) {
  const exit = target.exit.bind(target);
  target.exit = (code?: number) => {
    post({ type: "exit", code: code ?? 0 });
    return exit(code);
  };
}
// A property added to Object.prototype reaches every object in the Worker: a `then` there makes
// every object a thenable, which stalls Deno's own message loop in the Worker and then panics
// the whole process (Deno 2.9.6, runtime/web_worker.rs). Nothing may be added to it; its
// existing properties stay writable, so objects can still override toString and the like.
Object.preventExtensions(Object.prototype);

// Errors from the module's own timers and unhandled rejections would end the Worker.
scope.addEventListener("error", (event) => {
  event.preventDefault();
  post({ type: "uncaught", error: serialize(event.error ?? event.message) });
});
scope.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  post({ type: "uncaught", error: serialize(event.reason) });
});

/** Families handed back whose later pages the exporter has yet to ask for, by the reply's id. */
const unpaged = new Map<number, MetricFamily[]>();
/** Snapshots kept at once: a run's and a few collect()s'; the exporter no longer asks for an older one. */
const UNPAGED_KEPT = 4;

/** The module's families now: their sample count and first page, the rest kept for "page". */
async function snapshot(id: number): Promise<{ samples: number; page: Page }> {
  const families = await register.getMetricsAsJSON() as unknown as MetricFamily[];
  const page = pageOf(families);
  if (page.next) {
    unpaged.set(id, families);
    for (const old of unpaged.keys()) if (unpaged.size > UNPAGED_KEPT) unpaged.delete(old);
  }
  return { samples: sampleCount(families), page };
}

function isDynamic(): boolean {
  return register.getMetricsAsArray().some((m) => typeof (m as { collect?: unknown }).collect === "function");
}

function heapUsed(): number {
  return Deno.memoryUsage().heapUsed;
}

async function handle(message: ToWorker): Promise<void> {
  switch (message.type) {
    case "load": {
      moduleName = message.name;
      try {
        exports = await import(message.url) as Exports;
        post({
          type: "loaded",
          exports: {
            process: typeof exports.process,
            dispose: typeof exports.dispose,
            interval: exports.interval,
            timeout: exports.timeout,
            sandbox: exports.sandbox === undefined ? null : safeJson(exports.sandbox as object),
          },
          metrics: register.getMetricsAsArray().map((m) => {
            const { name, type } = m as unknown as { name: string; type?: string };
            return { name, type: String(type ?? "") };
          }),
        });
      } catch (err) {
        post({ type: "load-failed", error: serialize(err) });
      }
      return;
    }
    case "run": {
      const controller = new AbortController();
      running.set(message.id, controller);
      const ctx = { signal: controller.signal, log, module: moduleName };
      try {
        const fn = exports!.process as (ctx: unknown) => unknown;
        await caller.call(fn, ctx, message.timeoutMs);
        const families = await snapshot(message.id);
        post({ type: "result", id: message.id, ...families, dynamic: isDynamic(), heapUsed: heapUsed() });
      } catch (err) {
        post({ type: "result", id: message.id, error: serialize(err), heapUsed: heapUsed() });
      } finally {
        running.delete(message.id);
      }
      return;
    }
    case "abort": {
      running.get(message.id)?.abort(new DOMException("process() timed out", "TimeoutError"));
      post({ type: "aborted", id: message.id });
      return;
    }
    case "collect": {
      try {
        post({ type: "families", id: message.id, ...await snapshot(message.id) });
      } catch (err) {
        post({ type: "families", id: message.id, error: serialize(err) });
      }
      return;
    }
    case "page": {
      const families = unpaged.get(message.of);
      if (!families) {
        post({
          type: "page",
          id: message.id,
          error: serialize(new Error("those families are no longer kept")),
        });
        return;
      }
      const page = pageOf(families, message.from);
      if (!page.next) unpaged.delete(message.of);
      post({ type: "page", id: message.id, page });
      return;
    }
    case "dispose": {
      try {
        const dispose = exports?.dispose as (() => unknown) | undefined;
        if (typeof dispose === "function") await caller.call(() => dispose(), undefined, message.timeoutMs);
        post({ type: "disposed", id: message.id });
      } catch (err) {
        post({ type: "disposed", id: message.id, error: serialize(err) });
      }
      return;
    }
    case "memory":
      post({ type: "memory", id: message.id, heapUsed: heapUsed() });
      return;
  }
}

scope.onmessage = (event) => {
  handle(event.data);
};
