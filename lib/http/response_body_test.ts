import assert from "node:assert/strict";
import { responseBody, TEXT_BODY_BYTES } from "./response_body.ts";
import { SMALL_BODY_BYTES } from "../exposition/slicer.ts";

function bytes(length: number): Uint8Array<ArrayBuffer> {
  return Uint8Array.from({ length }, (_, i) => i % 251);
}

Deno.test("responseBody gives a small body as the buffer itself", () => {
  const small = bytes(1000);
  assert.equal(responseBody([small]).body, small);
});

Deno.test("responseBody streams a big body whole, with its length, and leaves the buffer usable", async () => {
  const big = bytes(SMALL_BODY_BYTES * 2 + 123);
  for (let round = 0; round < 2; round++) {
    const { body, headers } = responseBody([big]);
    assert.ok(body instanceof ReadableStream);
    const response = new Response(body, { headers });
    assert.equal(response.headers.get("content-length"), String(big.length));
    assert.deepEqual(new Uint8Array(await response.arrayBuffer()), big);
  }
  // Not detached: a later scrape serves the same cached bytes.
  assert.equal(big.byteLength, SMALL_BODY_BYTES * 2 + 123);
});

Deno.test("responseBody sends parts in order: joined when small, streamed when big, empty parts skipped", async () => {
  const parts = [bytes(10), new Uint8Array(0), bytes(20)];
  const small = responseBody(parts).body as Uint8Array;
  assert.deepEqual(small, new Uint8Array([...parts[0], ...parts[2]]));
  const big = [
    new Uint8Array(0),
    bytes(SMALL_BODY_BYTES),
    bytes(3 * 1024 * 1024 + 5),
    new Uint8Array(0),
    bytes(7),
  ];
  const { body, headers } = responseBody(big);
  assert.ok(body instanceof ReadableStream);
  const whole = new Uint8Array(await new Response(body, { headers }).arrayBuffer());
  assert.equal(headers["content-length"], String(whole.length));
  const expected = new Uint8Array(whole.length);
  let offset = 0;
  for (const part of big) {
    expected.set(part, offset);
    offset += part.length;
  }
  assert.deepEqual(whole, expected);
});

Deno.test("responseBody gives a small text body as a string, decoded once, that encodes to the same bytes", async () => {
  const encoded = new TextEncoder().encode(
    '\uFEFF# HELP a_b Ünïcode "q" \\ x.\na_b{l="\u00e9\ud83d\ude00"} 1\n',
  );
  const first = responseBody([encoded], true).body;
  assert.equal(typeof first, "string");
  assert.equal(responseBody([encoded], true).body, first);
  assert.deepEqual(new Uint8Array(await new Response(first).arrayBuffer()), encoded);
  // Binary (gzip) bodies stay bytes.
  assert.equal(responseBody([encoded]).body, encoded);
});

Deno.test("responseBody gives a text body up to TEXT_BODY_BYTES as one string of its parts, the same for the same parts", () => {
  const line = (i: number) => `series{i="${i}",note="é ✓"} ${i}\n`;
  const encoder = new TextEncoder();
  const fragment = encoder.encode(Array.from({ length: 3000 }, (_, i) => line(i)).join(""));
  const self = encoder.encode("up 1\n");
  const parts = [fragment, fragment, self];
  assert.ok(fragment.length * 2 > SMALL_BODY_BYTES, "a body above the small-buffer size");
  const { body } = responseBody(parts, true);
  assert.equal(typeof body, "string");
  assert.deepEqual(encoder.encode(body as string), new Uint8Array([...fragment, ...fragment, ...self]));
  assert.equal(responseBody(parts, true).body, body);
  // A new body with a new self part: the same text before it.
  const next = responseBody([fragment, fragment, encoder.encode("up 2\n")], true).body as string;
  assert.equal(next, (body as string).replace(/up 1\n$/, "up 2\n"));
  // Above TEXT_BODY_BYTES, and any binary body above the small size: a stream.
  const big = [bytes(TEXT_BODY_BYTES), bytes(1)];
  assert.ok(responseBody(big, true).body instanceof ReadableStream);
  assert.ok(responseBody(parts).body instanceof ReadableStream);
});
