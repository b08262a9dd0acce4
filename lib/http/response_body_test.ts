import assert from "node:assert/strict";
import { responseBody, reusesBodyStreams, WHOLE_BODY_BYTES } from "./response_body.ts";

function bytes(length: number, seed = 0): Uint8Array<ArrayBuffer> {
  return Uint8Array.from({ length }, (_, i) => (i + seed) % 251);
}

function joined(parts: Uint8Array[]): Uint8Array {
  const whole = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    whole.set(part, offset);
    offset += part.length;
  }
  return whole;
}

Deno.test("this Deno takes a shared body's bytes back without copying them (deno.json pins it)", async () => {
  // Where this fails, the exporter still serves the right bytes, but copies them for every scrape.
  assert.equal(reusesBodyStreams(), true);
  const { body } = responseBody([bytes(1000)]);
  assert.ok(body instanceof ReadableStream);
  const first = await new Response(body).bytes();
  const second = await new Response(body).bytes();
  assert.equal(first.buffer, second.buffer, "both responses carry the one joined buffer");
  assert.deepEqual(second, bytes(1000));
  assert.equal(body.locked, false);
});

Deno.test("responseBody gives one shared body for the same parts: joined in order, empty parts skipped", async () => {
  const parts = [bytes(10), new Uint8Array(0), bytes(20, 7)];
  const { body, headers } = responseBody(parts);
  assert.equal(headers, undefined);
  assert.equal(responseBody(parts).body, body);
  for (let round = 0; round < 3; round++) {
    assert.deepEqual(await new Response(body).bytes(), joined(parts));
  }
  // A new body (the self-metrics changed) is joined anew; the old one still serves its bytes.
  const next = [parts[0], bytes(5, 3)];
  assert.notEqual(responseBody(next).body, body);
  assert.deepEqual(await new Response(responseBody(next).body).bytes(), joined(next));
  assert.deepEqual(await new Response(body).bytes(), joined(parts));
  // The cached parts themselves are left as they were.
  assert.deepEqual(parts[2], bytes(20, 7));
});

Deno.test("responseBody shares a body up to WHOLE_BODY_BYTES and streams a bigger one, leaving the parts usable", async () => {
  const whole = [bytes(WHOLE_BODY_BYTES - 1), bytes(1)];
  assert.equal(responseBody(whole).headers, undefined);
  assert.deepEqual(await new Response(responseBody(whole).body).bytes(), joined(whole));
  const big = [
    new Uint8Array(0),
    bytes(WHOLE_BODY_BYTES),
    bytes(3 * 1024 * 1024 + 5, 1),
    new Uint8Array(0),
    bytes(7),
  ];
  for (let round = 0; round < 2; round++) {
    const { body, headers } = responseBody(big);
    assert.ok(body instanceof ReadableStream);
    assert.notEqual(body, responseBody(big).body, "a stream is read once: a new one per response");
    const response = new Response(body, { headers });
    assert.equal(response.headers.get("content-length"), String(joined(big).length));
    assert.deepEqual(await response.bytes(), joined(big));
  }
  // Not detached: a later scrape serves the same cached bytes.
  assert.equal(big[1].byteLength, WHOLE_BODY_BYTES);
});

Deno.test("a shared body serves the same bytes to every request over HTTP, at once or one after another", async () => {
  const parts = [bytes(40_000), bytes(30_000, 11)];
  const expected = joined(parts);
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () => {
    const { body } = responseBody(parts);
    return new Response(body, {
      headers: { "content-type": "application/octet-stream", "x-kind": "shared" },
    });
  });
  try {
    const url = `http://127.0.0.1:${server.addr.port}/`;
    const get = async () => {
      const response = await fetch(url, { headers: { "accept-encoding": "identity" } });
      assert.equal(response.headers.get("content-length"), String(expected.length));
      return await response.bytes();
    };
    for (let i = 0; i < 5; i++) assert.deepEqual(await get(), expected);
    const together = await Promise.all(Array.from({ length: 16 }, get));
    for (const got of together) assert.deepEqual(got, expected);
    assert.deepEqual(parts[0], bytes(40_000));
  } finally {
    await server.shutdown();
  }
});
