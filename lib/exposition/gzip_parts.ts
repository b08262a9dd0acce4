/**
 * One gzip stream built from parts compressed separately (issue 10), so that a body whose
 * self-metrics change every second re-compresses only them, not the modules' megabytes.
 *
 * Concatenated gzip members would be simpler, and Go's gzip.Reader (Prometheus) reads them
 * all, but curl --compressed and Deno's fetch stop after the first member (measured with Deno
 * 2.9.6 and curl 8): they would see a truncated body. So, as pigz does, every part but the
 * last is raw deflate ended by a sync flush (byte-aligned, not final), the last one ends the
 * deflate stream, and one gzip header and trailer go around them all, the trailer's CRC-32
 * combined from the parts' own.
 */

import { constants, crc32, deflateRawSync } from "node:zlib";
import { CHUNK_BYTES, type Slicer } from "./slicer.ts";

type Bytes = Uint8Array<ArrayBuffer>;

/** Raw deflate data for some bytes, with their CRC-32 and length. */
export interface DeflatedPart {
  data: Bytes;
  crc: number;
  length: number;
}

/** Deflates `bytes` as a middle part (sync flush), a chunk per slice. */
export async function deflatePart(bytes: Bytes, slicer: Slicer): Promise<DeflatedPart> {
  const chunks: Bytes[] = [];
  let crc = 0;
  // Each chunk is deflated on its own: a 256 KiB chunk costs the ratio little (deflate's
  // window is 32 KiB) and one chunk is the longest the event loop is held.
  for (let at = 0; at < bytes.length; at += CHUNK_BYTES) {
    await slicer.pause();
    const chunk = bytes.subarray(at, at + CHUNK_BYTES);
    chunks.push(new Uint8Array(deflateRawSync(chunk, { finishFlush: constants.Z_SYNC_FLUSH })));
    crc = crc32(chunk, crc);
  }
  const data = chunks.length === 1 ? chunks[0] : await slicer.concat(chunks);
  return { data, crc, length: bytes.length };
}

/** Deflates `bytes` (small) as the last part: its final block ends the deflate stream. */
export function deflateLastPart(bytes: Bytes): DeflatedPart {
  return { data: new Uint8Array(deflateRawSync(bytes)), crc: crc32(bytes), length: bytes.length };
}

// ID1 ID2, CM=deflate, no flags, no mtime, XFL=0, OS=unknown (RFC 1952).
export const GZIP_HEADER = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);

/**
 * One gzip stream of `middle` (deflatePart) and `last` (deflateLastPart), in order, as the
 * buffers to send one after another: the parts' own data between a header and a trailer, so
 * that a body is never copied together (at 1M series, a 5 MB copy at every self-metrics refresh).
 */
export function gzipParts(middle: readonly DeflatedPart[], last: DeflatedPart): Bytes[] {
  let crc = 0;
  let length = 0;
  for (const part of [...middle, last]) {
    crc = crc32Combine(crc, part.crc, part.length);
    length += part.length;
  }
  const trailer = new Uint8Array(8);
  const view = new DataView(trailer.buffer);
  view.setUint32(0, crc, true);
  view.setUint32(4, length % 2 ** 32, true);
  return [GZIP_HEADER, ...middle.map((p) => p.data), last.data, trailer];
}

/**
 * The CRC-32 of A followed by B from crc(A), crc(B) and B's length, as zlib's crc32_combine:
 * appending `len2` zero bits to A's CRC is a linear map, applied by repeated squaring.
 */
export function crc32Combine(crc1: number, crc2: number, len2: number): number {
  if (len2 <= 0) return crc1 >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  odd[0] = 0xedb88320; // the CRC-32 polynomial: the operator for one zero bit
  let row = 1;
  for (let n = 1; n < 32; n++) {
    odd[n] = row;
    row <<= 1;
  }
  square(even, odd); // two zero bits
  square(odd, even); // four zero bits
  let crc = crc1 >>> 0;
  let len = len2;
  // One zero byte first, then doubling: apply the operators for the set bits of len2 bytes.
  while (true) {
    square(even, odd);
    if (len % 2 === 1) crc = times(even, crc);
    len = Math.floor(len / 2);
    if (len === 0) break;
    square(odd, even);
    if (len % 2 === 1) crc = times(odd, crc);
    len = Math.floor(len / 2);
    if (len === 0) break;
  }
  return (crc ^ crc2) >>> 0;
}

function times(matrix: Uint32Array, vector: number): number {
  let sum = 0;
  for (let i = 0, v = vector >>> 0; v !== 0; i++, v >>>= 1) {
    if (v & 1) sum ^= matrix[i];
  }
  return sum >>> 0;
}

function square(out: Uint32Array, matrix: Uint32Array): void {
  for (let n = 0; n < 32; n++) out[n] = times(matrix, matrix[n]);
}
