import assert from "node:assert/strict";
import { crc32, gunzipSync } from "node:zlib";
import { crc32Combine, deflateLastPart, deflatePart, gzipParts } from "./gzip_parts.ts";
import { joinBytes, Slicer } from "./slicer.ts";

function randomBytes(length: number, seed: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    // Text-like: compressible, yet not constant.
    bytes[i] = 97 + ((x >>> 16) % 7);
  }
  return bytes;
}

Deno.test("crc32Combine gives the CRC-32 of the concatenation", () => {
  for (const [a, b] of [[0, 5], [5, 0], [1, 1], [1000, 3], [70_000, 300_001]]) {
    const first = randomBytes(a, a + 1);
    const second = randomBytes(b, b + 7);
    const whole = new Uint8Array([...first, ...second]);
    assert.equal(crc32Combine(crc32(first), crc32(second), b), crc32(whole) >>> 0, `${a} + ${b}`);
  }
});

Deno.test("gzipParts makes one gzip stream of parts deflated apart, that gunzip reads whole", async () => {
  const slicer = new Slicer();
  // Past one 256 KiB chunk, an empty part, and a last part.
  const parts = [randomBytes(600_000, 1), randomBytes(0, 2), randomBytes(10, 3)];
  const last = randomBytes(300, 4);
  const middle = await Promise.all(parts.map((p) => deflatePart(p, slicer)));
  const gzip = joinBytes(gzipParts(middle, deflateLastPart(last)));
  assert.deepEqual(
    new Uint8Array(gunzipSync(gzip)),
    new Uint8Array([...parts.flatMap((p) => [...p]), ...last]),
  );
});

Deno.test("gzipParts with no middle parts and an empty last part is a valid empty gzip", () => {
  const gzip = joinBytes(gzipParts([], deflateLastPart(new Uint8Array(0))));
  assert.equal(gunzipSync(gzip).length, 0);
});
