/** The messages between the exporter and a sandboxed module's Worker (lib/worker_entry.ts). */

import type { Cursor, Page } from "./family_pages.ts";

/** An error as it crosses the Worker boundary: its cause chain is already in `message`. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

export type ToWorker =
  | { type: "load"; url: string; name: string }
  | { type: "run"; id: number; timeoutMs: number }
  | { type: "abort"; id: number }
  | { type: "collect"; id: number }
  | { type: "dispose"; id: number; timeoutMs: number }
  | { type: "memory"; id: number }
  /** The page from `from` of the families that the reply with id `of` began (family_pages.ts). */
  | { type: "page"; id: number; of: number; from: Cursor };

export type FromWorker =
  | {
    type: "loaded";
    /** The exports as the exporter needs them: typeof for functions, the values for settings. */
    exports: { process: string; dispose: string; interval: unknown; timeout: unknown; sandbox: unknown };
    /** Metrics registered at import, with their types. */
    metrics: { name: string; type: string }[];
  }
  | { type: "load-failed"; error: SerializedError }
  | {
    type: "result";
    id: number;
    error?: SerializedError;
    /** The families' samples, and their first page; the exporter asks for the others. */
    samples?: number;
    page?: Page;
    dynamic?: boolean;
    heapUsed: number;
  }
  | { type: "aborted"; id: number }
  | { type: "families"; id: number; samples?: number; page?: Page; error?: SerializedError }
  | { type: "page"; id: number; page?: Page; error?: SerializedError }
  | { type: "disposed"; id: number; error?: SerializedError }
  | { type: "memory"; id: number; heapUsed: number }
  | { type: "log"; level: "debug" | "info" | "warn" | "error"; msg: string; fields?: Record<string, unknown> }
  | { type: "exit"; code: number }
  | { type: "uncaught"; error: SerializedError };
