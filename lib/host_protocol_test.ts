import assert from "node:assert/strict";
import { encodeFrame, FrameDecoder, FrameError, MAX_FRAME_BYTES } from "./host_protocol.ts";

Deno.test("FrameDecoder takes frames split across chunks and several in one chunk", () => {
  const a = encodeFrame({ type: "pong", id: 1 });
  const b = encodeFrame({ type: "log", level: "info", msg: "é ✓" });
  const both = new Uint8Array([...a, ...b]);
  const decoder = new FrameDecoder();
  const got: unknown[] = [];
  for (let i = 0; i < both.length; i += 3) got.push(...decoder.push(both.subarray(i, i + 3)));
  assert.deepEqual(got, [{ type: "pong", id: 1 }, { type: "log", level: "info", msg: "é ✓" }]);
  assert.deepEqual(new FrameDecoder().push(both), got);
});

Deno.test("FrameDecoder refuses a frame over the bound before reading it, and one that is not a message", () => {
  const head = new Uint8Array(4);
  new DataView(head.buffer).setUint32(0, MAX_FRAME_BYTES + 1);
  assert.throws(() => new FrameDecoder().push(head), FrameError);
  const text = new TextEncoder().encode("[1,2]");
  const frame = new Uint8Array(4 + text.length);
  new DataView(frame.buffer).setUint32(0, text.length);
  frame.set(text, 4);
  assert.throws(() => new FrameDecoder().push(frame), {
    name: "FrameError",
    message: "a frame that is not a message",
  });
  const bad = new Uint8Array([0, 0, 0, 2, 0xff, 0xfe]);
  assert.throws(() => new FrameDecoder().push(bad), FrameError);
});
