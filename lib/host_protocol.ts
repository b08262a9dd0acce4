/**
 * What the exporter (lib/supervisor/) and a module host process (lib/host/) say to each other,
 * and how: one JSON message per frame, a 4-byte big-endian length before it, the server's on the
 * host's stdin and the host's on its stdout. A host runs module code, so nothing it sends is
 * trusted: the server checks a frame's length before it reads it and every message's shape
 * before it acts on it; a frame over MAX_FRAME_BYTES or that is not a message ends the host.
 *
 * A run's metric families come back in pages of at most PAGE_SAMPLES samples (family_pages.ts),
 * each asked for once the last has arrived, so the server's event loop decodes one small page at
 * a time and serves scrapes between them (issue 21: never one big JSON.parse).
 */

import type { Cursor, Page } from "./modules/family_pages.ts";
import type { ExportShape } from "./modules/module_exports.ts";
import type { RunFixture } from "./testing/fixture.ts";

/** An error as it crosses the process boundary: its cause chain is already in `message`. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  code?: string;
}

/** The exports as the server needs them (module_exports.ts), and the sandbox it compares with the declaration. */
export interface LoadedExports extends ExportShape {
  sandbox: unknown;
}

export type ToHost =
  | { type: "ping"; id: number }
  /** Imports `url` as version `key` of module `name`, replacing the version `previous` (its metric names) if given. */
  | { type: "load"; id: number; key: string; name: string; file: string; previous?: string }
  | { type: "run"; id: number; key: string; timeoutMs: number }
  | { type: "abort"; id: number; run: number }
  | { type: "collect"; id: number; key: string }
  /** The page from `from` of the families that the reply with id `of` began. */
  | { type: "page"; id: number; of: number; from: Cursor }
  | { type: "dispose"; id: number; key: string; timeoutMs: number }
  | { type: "release"; id: number; key: string }
  /**
   * Calls probe(target, ctx) with a registry of the call's own (issue 20); the families come
   * back paged as a run's do. `params` are the declared ones only: the server checked them.
   */
  | {
    type: "probe";
    id: number;
    key: string;
    target: string;
    params: Record<string, string>;
    timeoutMs: number;
  }
  /** Asks validateTarget(target) (issue 20): the server validated the shape of the target before. */
  | { type: "validate"; id: number; key: string; target: string; timeoutMs: number }
  /**
   * `test-module` only (a host started with --fixtures): what follows is the run `label`,
   * replaying `replay`; a recording host answers with what it recorded since the last one.
   * Files under `base` (the module's dir) are named `./<path>` relative to it in fixtures.
   */
  | { type: "fixture"; id: number; label: string; base: string; replay?: RunFixture };

export type FromHost =
  /** The host's own heap and resident memory: Deno lets the server read nothing under /proc. */
  | { type: "pong"; id: number; heapUsed: number; rss: number }
  /**
   * Sent, synchronously, as the host begins a call that runs module code: if the host then
   * goes silent or dies, the calls it had begun are the suspects, not those still queued.
   */
  | { type: "started"; id: number }
  | {
    type: "loaded";
    id: number;
    exports: LoadedExports;
    /** Metrics registered at import, with their types. */
    metrics: { name: string; type: string }[];
  }
  | { type: "load-failed"; id: number; error: SerializedError }
  | {
    type: "result";
    id: number;
    error?: SerializedError;
    /** The families' samples, and their first page; the server asks for the others. */
    samples?: number;
    page?: Page;
    dynamic?: boolean;
  }
  | { type: "families"; id: number; samples?: number; page?: Page; error?: SerializedError }
  | { type: "page"; id: number; page?: Page; error?: SerializedError }
  /** `threads`: the module started a Worker, which only the host's end is sure to stop. */
  | { type: "disposed"; id: number; error?: SerializedError; threads?: boolean }
  | { type: "released"; id: number }
  /** `logs`: what the probe logged through ctx.log, for `&debug=true` (at most PROBE_LOG_LINES). */
  | {
    type: "probed";
    id: number;
    error?: SerializedError;
    samples?: number;
    page?: Page;
    logs?: ProbeLogLine[];
  }
  | { type: "validated"; id: number; accepted?: boolean; error?: SerializedError }
  | { type: "fixture-set"; id: number; recorded?: RunFixture; error?: SerializedError }
  /** A line a module logged (ctx.log or its console); `key` names the version when known. */
  | { type: "log"; key?: string; level: string; msg: string; fields?: Record<string, unknown> }
  | { type: "uncaught"; key?: string; error: SerializedError };

/** A line a probe logged, as `&debug=true` shows it. */
export interface ProbeLogLine {
  level: string;
  msg: string;
  fields?: Record<string, unknown>;
}

/** Lines of one probe's log kept for its reply; the rest are counted in a last line. */
export const PROBE_LOG_LINES = 200;

/** The largest frame either side accepts: a page is far smaller (PAGE_SAMPLES samples). */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** The argument that makes main.ts (and so the compiled binary) run as a module host. */
export const HOST_COMMAND = "__module_host";

const encoder = new TextEncoder();

/** `message` as one frame. */
export function encodeFrame(message: unknown): Uint8Array<ArrayBuffer> {
  const body = encoder.encode(JSON.stringify(message));
  const frame = new Uint8Array(4 + body.length);
  new DataView(frame.buffer).setUint32(0, body.length);
  frame.set(body, 4);
  return frame;
}

/** A frame that cannot be one: the stream is not to be read further. */
export class FrameError extends Error {
  override name = "FrameError";
}

/**
 * Cuts a byte stream into frames and parses each. Chunks are kept as they come and joined
 * only for the frame they complete, so a page split over many chunks costs one copy.
 */
export class FrameDecoder {
  readonly #chunks: Uint8Array[] = [];
  #buffered = 0;
  readonly #decoder = new TextDecoder("utf-8", { fatal: true });

  /** Takes `chunk`; returns the messages it completes. Throws FrameError on a bad frame. */
  push(chunk: Uint8Array): unknown[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: unknown[] = [];
    for (;;) {
      if (this.#buffered < 4) return out;
      const head = this.#take(4, false);
      const length = new DataView(head.buffer, head.byteOffset, 4).getUint32(0);
      if (length > MAX_FRAME_BYTES) {
        throw new FrameError(`a frame of ${length} bytes, over the bound of ${MAX_FRAME_BYTES}`);
      }
      if (this.#buffered < 4 + length) return out;
      this.#take(4, true);
      const body = this.#take(length, true);
      let message: unknown;
      try {
        message = JSON.parse(this.#decoder.decode(body));
      } catch (err) {
        throw new FrameError(`a frame that is not a JSON message: ${(err as Error).message}`);
      }
      if (
        typeof message !== "object" || message === null ||
        typeof (message as { type?: unknown }).type !== "string"
      ) {
        throw new FrameError("a frame that is not a message");
      }
      out.push(message);
    }
  }

  /** The first `n` buffered bytes; removed from the buffer when `consume`. */
  #take(n: number, consume: boolean): Uint8Array {
    const first = this.#chunks[0];
    let out: Uint8Array;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (consume) {
        if (first.length === n) this.#chunks.shift();
        else this.#chunks[0] = first.subarray(n);
      }
    } else {
      out = new Uint8Array(n);
      let filled = 0;
      let i = 0;
      while (filled < n) {
        const chunk = this.#chunks[i];
        const part = chunk.subarray(0, Math.min(chunk.length, n - filled));
        out.set(part, filled);
        filled += part.length;
        if (consume) {
          if (part.length === chunk.length) this.#chunks.splice(i, 1);
          else {
            this.#chunks[i] = chunk.subarray(part.length);
            i++;
          }
        } else i++;
      }
    }
    if (consume) this.#buffered -= n;
    return out;
  }
}
