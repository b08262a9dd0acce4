import assert from "node:assert/strict";
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
  const policy = { auth: await BasicAuth.create(USERS), headers: {} };
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
  const policy = { auth: await BasicAuth.create(USERS), headers: {} };
  assert.equal((await call(policy, "/-/healthy")).body, "inner /-/healthy\n");
  assert.deepEqual(await call(policy, "/metrics", { authorization: GOOD }), {
    status: 200,
    body: "inner /metrics\n",
    authenticate: null,
    frame: null,
  });
});

Deno.test("configured headers go on every response, the 401 included", async () => {
  const policy = { auth: await BasicAuth.create(USERS), headers: HEADERS };
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
  policy = { auth: await BasicAuth.create(USERS), headers: {} };
  assert.equal((await handler(new Request("http://x/metrics"))).status, 401);
});
