import assert from "node:assert/strict";
import { BcryptQueue } from "./bcrypt_queue.ts";
import { BasicAuth } from "./basic_auth.ts";
import { guardHandler, type WebPolicy } from "./web_guard.ts";

const USERS = new Map([["prometheus", "$2b$10$JXUsYdU8Z8fglT6oA/MQCePmags4N5PnWnzFgV.HHphEfTsJN7S2O"]]);
const GOOD = `Basic ${btoa("prometheus:scrape-secret")}`;
const HEADERS = { "X-Frame-Options": "deny", "X-Content-Type-Options": "nosniff" };

const inner = (request: Request) =>
  Promise.resolve(new Response(`inner ${new URL(request.url).pathname}\n`, { headers: { "x-inner": "1" } }));

async function call(policy: WebPolicy, path: string, headers: HeadersInit = {}) {
  const response = await guardHandler(inner, () => policy)(new Request(`http://x${path}`, { headers }));
  return {
    status: response.status,
    body: await response.text(),
    authenticate: response.headers.get("www-authenticate"),
    frame: response.headers.get("x-frame-options"),
  };
}

Deno.test("with users, a request without credentials gets 401 and a Basic challenge", async () => {
  using bcrypt = new BcryptQueue();
  const policy = { auth: await BasicAuth.create(USERS, { bcrypt }), headers: {} };
  for (const path of ["/metrics", "/", "/-/ready", "/-/reload", "/nope"]) {
    assert.deepEqual(await call(policy, path), {
      status: 401,
      body: "Unauthorized\n",
      authenticate: 'Basic realm="dynamic_exporter", charset="UTF-8"',
      frame: null,
    }, path);
  }
});

Deno.test("with users, /-/healthy stays open and good credentials reach the handler", async () => {
  using bcrypt = new BcryptQueue();
  const policy = { auth: await BasicAuth.create(USERS, { bcrypt }), headers: {} };
  assert.equal((await call(policy, "/-/healthy")).body, "inner /-/healthy\n");
  assert.deepEqual(await call(policy, "/metrics", { authorization: GOOD }), {
    status: 200,
    body: "inner /metrics\n",
    authenticate: null,
    frame: null,
  });
});

Deno.test("configured headers go on every response, the 401 included", async () => {
  using bcrypt = new BcryptQueue();
  const policy = { auth: await BasicAuth.create(USERS, { bcrypt }), headers: HEADERS };
  assert.equal((await call(policy, "/metrics")).frame, "deny");
  assert.equal((await call(policy, "/metrics", { authorization: GOOD })).frame, "deny");
  assert.equal((await call({ headers: HEADERS }, "/")).frame, "deny");
});

Deno.test("without users every path is open", async () => {
  assert.deepEqual(await call({ headers: {} }, "/metrics"), {
    status: 200,
    body: "inner /metrics\n",
    authenticate: null,
    frame: null,
  });
});

Deno.test("the guard asks for the policy on every request, so a reload applies at once", async () => {
  let policy: WebPolicy = { headers: {} };
  const handler = guardHandler(inner, () => policy);
  assert.equal((await handler(new Request("http://x/metrics"))).status, 200);
  using bcrypt = new BcryptQueue();
  policy = { auth: await BasicAuth.create(USERS, { bcrypt }), headers: {} };
  assert.equal((await handler(new Request("http://x/metrics"))).status, 401);
});

Deno.test("when too many password checks are pending, the guard answers 429 at once with Retry-After", async () => {
  using bcrypt = new BcryptQueue({ maxPending: 1 });
  const policy = { auth: await BasicAuth.create(USERS, { bcrypt }), headers: HEADERS };
  const first = call(policy, "/metrics", { authorization: `Basic ${btoa("prometheus:guess")}` });
  const handler = guardHandler(inner, () => policy);
  const busy = await handler(
    new Request("http://x/metrics", { headers: { authorization: `Basic ${btoa("prometheus:guess2")}` } }),
  );
  assert.deepEqual(
    {
      status: busy.status,
      body: await busy.text(),
      retry: busy.headers.get("retry-after"),
      frame: busy.headers.get("x-frame-options"),
    },
    {
      status: 429,
      body: "Too many authentication attempts in progress; retry later.\n",
      retry: "1",
      frame: "deny",
    },
  );
  assert.equal((await first).status, 401);
});
