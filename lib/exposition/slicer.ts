/**
 * CPU work on big bodies (render, copy, gzip) in slices of a few milliseconds, with the event
 * loop free in between, so that a 100k-series rebuild never holds up a scrape of the cached
 * body or /-/healthy for long (issue 10).
 */

type Bytes = Uint8Array<ArrayBuffer>;

export interface SlicerOptions {
  /**
   * How long one slice may run before the event loop gets a turn. Default 2: a turn of the loop
   * also serves the requests that came meanwhile and collects garbage, so a stall is a slice and
   * more. With a 100k-series module run every second under wrk c=16 the longest stall was 20-27
   * ms with 5 ms slices, 4-11 ms with 2 ms, at the same requests per second (issue 10).
   */
  sliceMs?: number;
}

/** Bytes copied between two checks of the clock. */
export const CHUNK_BYTES = 256 * 1024;

/** `parts` one after another in one new buffer, at once: for small bodies. */
export function joinBytes(parts: readonly Bytes[]): Bytes {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export class Slicer {
  readonly #sliceMs: number;
  #sliceStart = performance.now();

  constructor(options: SlicerOptions = {}) {
    this.#sliceMs = options.sliceMs ?? 2;
  }

  /** True once the current slice has used its time. */
  get due(): boolean {
    return performance.now() - this.#sliceStart >= this.#sliceMs;
  }

  /** Gives the event loop a turn (timers, I/O, other requests) when the slice is used up. */
  async pause(): Promise<void> {
    if (!this.due) return;
    // A macrotask, not a microtask: only then do timers and the HTTP server run in between.
    await new Promise((resolve) => setTimeout(resolve, 0));
    this.#sliceStart = performance.now();
  }

  /** `parts` one after another in one new buffer. */
  async concat(parts: readonly Bytes[]): Promise<Bytes> {
    let length = 0;
    for (const part of parts) length += part.length;
    const out = new Uint8Array(length);
    let offset = 0;
    for (const part of parts) {
      for (let at = 0; at < part.length; at += CHUNK_BYTES) {
        await this.pause();
        const chunk = part.subarray(at, at + CHUNK_BYTES);
        out.set(chunk, offset);
        offset += chunk.length;
      }
    }
    return out;
  }
}
