/**
 * The body of a scrape's Response, sent without copying the cached bytes (issue 10).
 * `new Response(bytes)` copies the whole buffer on the event loop for every response
 * (extractBody slices it, per the Fetch standard): 20-50 ms for a 50 MB body, per request, and
 * garbage V8 counts as external memory for any size. A body up to 1 MiB is joined once and
 * served from one stream that Deno takes the bytes back from; a bigger one is a stream of
 * subarrays of its parts: measured on a 50 MB body at c=4, 2.5x the requests per second and
 * 6-10 ms stalls instead of 60-150 ms.
 */

import { joinBytes } from "../exposition/slicer.ts";

type Bytes = Uint8Array<ArrayBuffer>;

const CHUNK_BYTES = 1024 * 1024;

/**
 * Up to this size a body, text or gzip, is joined into one buffer once and sent without a copy
 * (`shareBody`); above it, a body is streamed from its parts, so that a body of tens of MB is
 * not held twice. A body rebuilt at every self-metrics refresh is joined again then: at this
 * size a copy of a millisecond or less.
 */
export const WHOLE_BODY_BYTES = 1024 * 1024;

/**
 * Whether this Deno serves the bytes of a body stream, taken from a Response made of bytes,
 * without copying them again. A stream that a Response of bytes made and nobody read is
 * recognised by `new Response(stream)` (Deno 2.9: extractBody's staticBodySource in
 * ext/fetch/22_body.js), which takes back those bytes, already copied once, and leaves the
 * stream unread for the next Response. Asked once: where it is not so, every response copies.
 */
export function reusesBodyStreams(): boolean {
  try {
    const stream = new Response(new Uint8Array(1)).body;
    if (!stream) return false;
    for (let round = 0; round < 2; round++) if (new Response(stream).body === stream) return false;
    return !stream.locked;
  } catch {
    return false;
  }
}

const REUSES_BODY_STREAMS = reusesBodyStreams();

/** Each body's bytes joined once, as the stream that serves them (or as bytes, see above). */
const sharedBodies = new WeakMap<readonly Bytes[], ReadableStream<Uint8Array> | Bytes>();

/**
 * `parts` as one body that every Response can take without a copy. `new Response(bytes)`
 * copies the bytes for every response (extractBody slices them, per the Fetch standard), and
 * V8 counts each copy as external memory: at 10k series gzip (59 KB) under wrk c=16 it ran an
 * incremental mark-compact every 30-50 ms, and the exporter spent 60 us of CPU per request;
 * with the bytes taken back from one stream, 27 us, and 1k series gzip 19.7 us against 23.5
 * (issue 10). A text body went as a string before, which Deno encodes again for every
 * response: 10k series plain went from 131 to 108 us.
 *
 * Reading such a Response in JavaScript gives the shared bytes themselves, not a copy: nothing
 * in the exporter does (Deno.serve writes them from Rust), and nothing may write to them.
 */
function shareBody(parts: readonly Bytes[]): ReadableStream<Uint8Array> | Bytes {
  const bytes = parts.length === 1 ? parts[0] : joinBytes(parts);
  const body = REUSES_BODY_STREAMS ? new Response(bytes).body ?? bytes : bytes;
  sharedBodies.set(parts, body);
  return body;
}

/**
 * The body for a Response, from the body's parts in order, and its headers: the same shared
 * body for the same parts up to WHOLE_BODY_BYTES, a stream of them above it.
 *
 * A big body's stream must stay a default one: a byte stream (`type: "bytes"`) transfers, and
 * so detaches, every buffer enqueued, which would break the cached parts for every later
 * scrape.
 */
export function responseBody(parts: readonly Bytes[]): { body: BodyInit; headers?: Record<string, string> } {
  const shared = sharedBodies.get(parts);
  if (shared !== undefined) return { body: shared };
  let length = 0;
  for (const part of parts) length += part.length;
  if (length <= WHOLE_BODY_BYTES) return { body: shareBody(parts) };
  let index = 0;
  let at = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      while (index < parts.length && at >= parts[index].length) {
        index++;
        at = 0;
      }
      if (index >= parts.length) return controller.close();
      controller.enqueue(parts[index].subarray(at, at += CHUNK_BYTES));
    },
  });
  return { body, headers: { "content-length": String(length) } };
}
