import assert from "node:assert/strict";
import { Logger } from "../log.ts";
import { limitRequests } from "./request_limit.ts";

/** A handler whose responses wait until `release()`; `started` counts the calls. */
function gated() {
  let open = Promise.withResolvers<void>();
  const state = {
    started: 0,
    release() {
      open.resolve();
      open = Promise.withResolvers<void>();
    },
    handler: async (request: Request) => {
      state.started++;
      await open.promise;
      return new Response(`ok ${new URL(request.url).pathname}\n`);
    },
  };
  return state;
}

function capture() {
  const lines: string[] = [];
  return { lines, log: new Logger({ write: (line) => lines.push(line), level: "debug" }) };
}

const get = (path: string) => new Request(`http://x${path}`);

Deno.test("limitRequests answers 503 at once past max in flight, and serves again once one finishes", async () => {
  const inner = gated();
  const { log } = capture();
  const handler = limitRequests(inner.handler, { max: 2, log });
  const held = [handler(get("/metrics")), handler(get("/"))];
  const refused = await handler(get("/metrics"));
  assert.deepEqual(
    { status: refused.status, body: await refused.text(), retry: refused.headers.get("retry-after") },
    { status: 503, body: "Too many requests in flight (--web.max-requests=2); retry later.\n", retry: "1" },
  );
  assert.equal(inner.started, 2);
  inner.release();
  assert.deepEqual(await Promise.all(held.map(async (r) => (await r).status)), [200, 200]);
  const again = handler(get("/metrics"));
  inner.release();
  assert.equal((await again).status, 200);
});

Deno.test("limitRequests never refuses nor counts /-/healthy and /-/ready", async () => {
  const inner = gated();
  const { log } = capture();
  const handler = limitRequests(inner.handler, { max: 1, log });
  const held = handler(get("/metrics"));
  const probes = [handler(get("/-/healthy")), handler(get("/-/ready"))];
  assert.equal((await handler(get("/metrics"))).status, 503);
  inner.release();
  assert.deepEqual(await Promise.all([held, ...probes].map(async (r) => (await r).status)), [200, 200, 200]);
});

Deno.test("limitRequests logs one warning per interval with the number refused", async () => {
  const inner = gated();
  const { log, lines } = capture();
  let clock = 0;
  const handler = limitRequests(inner.handler, { max: 1, log, logEveryMs: 1000, now: () => clock });
  const held = handler(get("/metrics"));
  for (let i = 0; i < 5; i++) await handler(get("/metrics"));
  clock = 1500;
  for (let i = 0; i < 3; i++) await handler(get("/metrics"));
  inner.release();
  await held;
  assert.deepEqual(
    lines.map((l) => l.replace(/^ts=\S+ /, "")),
    [
      'level=warn msg="too many requests in flight; refusing with 503" max_requests=1 refused=1',
      'level=warn msg="too many requests in flight; refusing with 503" max_requests=1 refused=5',
    ],
  );
});

Deno.test("limitRequests with max 0 is the handler itself", () => {
  const inner = gated();
  const { log } = capture();
  assert.equal(limitRequests(inner.handler, { max: 0, log }), inner.handler);
});

Deno.test("limitRequests frees the slot of a Response given at once, and of a handler that throws", async () => {
  const { log } = capture();
  let mode: "now" | "throw" = "now";
  const handler = limitRequests((request) => {
    if (mode === "throw") throw new Error("boom");
    return new Response(new URL(request.url).pathname);
  }, { max: 1, log });
  for (let i = 0; i < 3; i++) {
    const response = handler(get("/metrics"));
    assert.ok(response instanceof Response);
    assert.equal(response.status, 200);
    await response.body?.cancel();
  }
  mode = "throw";
  assert.throws(() => handler(get("/metrics")), /boom/);
  mode = "now";
  assert.equal((await handler(get("/metrics"))).status, 200);
});
