/**
 * A big body as a stream of views instead of one buffer (issue 10): `new Response(bytes)`
 * copies the whole buffer on the event loop for every response (extractBody slices it, per the
 * Fetch standard): 20-50 ms for a 50 MB body, per request. A stream of subarrays copies
 * nothing; measured on a 50 MB body at c=4: 2.5x the requests per second and 6-10 ms stalls
 * instead of 60-150 ms; on a 0.5 MB gzip body at c=1, 3,600-4,000 req/s against 2,700-3,100.
 * A text body up to 1 MiB goes as one string and a small binary one as one buffer, which are
 * cheaper per request.
 */

import { joinBytes, SMALL_BODY_BYTES } from "../exposition/slicer.ts";

type Bytes = Uint8Array<ArrayBuffer>;

const CHUNK_BYTES = 1024 * 1024;

/**
 * Up to this size a text body goes as a string. Measured at 10k series (0.5 MB), plain, wrk
 * c=16, each against the static server's 165-180 us of CPU per request: 174-224 us as a stream,
 * 125 us as a string, 8,100 req/s against 6,000 (issue 10). Above it, a body rebuilt at every
 * self-metrics refresh would be joined into a new string of megabytes each time.
 */
export const TEXT_BODY_BYTES = 1024 * 1024;

/** Each part's text, decoded once, and each body's, joined once from its parts'. */
const partTexts = new WeakMap<Bytes, string>();
const bodyTexts = new WeakMap<readonly Bytes[], string>();
const decoder = new TextDecoder("utf-8", { ignoreBOM: true });

/** `parts` as one string: a new body (the self-metrics changed) decodes only its new parts. */
function textOf(parts: readonly Bytes[]): string {
  let text = bodyTexts.get(parts);
  if (text !== undefined) return text;
  text = "";
  for (const part of parts) {
    let decoded = partTexts.get(part);
    if (decoded === undefined) partTexts.set(part, decoded = decoder.decode(part));
    text += decoded;
  }
  bodyTexts.set(parts, text);
  return text;
}

/**
 * The body for a Response, from the body's parts in order, and its headers. With `text`, each
 * part is whole UTF-8 text.
 *
 * A text body up to TEXT_BODY_BYTES goes as a string: `new Response(bytes)` copies the bytes
 * into a new ArrayBuffer for every response, and at 8k scrapes a second of a 50 KB body that
 * external memory made V8 run 4 mark-compacts a second, each 7-9 ms of marking between requests:
 * a 4-7 ms p99 at c=1 where the static server had 0.2-1 ms. A string is handed to Deno as it is and
 * encoded on the Rust side. Measured at 1k series, plain: c=16 37k req/s against the static
 * server's 25-31k, p99 0.3 ms at c=1 (issue 10). The exposition's text is UTF-8 from
 * TextEncoder, so decoding and encoding again gives the same bytes.
 *
 * A big body is streamed; the stream must stay a default one: a byte stream (`type: "bytes"`)
 * transfers, and so detaches, every buffer enqueued, which would break the cached parts for
 * every later scrape.
 */
export function responseBody(
  parts: readonly Bytes[],
  text = false,
): { body: BodyInit; headers: Record<string, string> } {
  let length = 0;
  for (const part of parts) length += part.length;
  if (text && length <= TEXT_BODY_BYTES) return { body: textOf(parts), headers: {} };
  // The exposition joins a small body once: this copy is for other callers.
  if (length <= SMALL_BODY_BYTES) {
    return { body: parts.length === 1 ? parts[0] : joinBytes(parts), headers: {} };
  }
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
