import assert from "node:assert/strict";
import { BcryptQueue } from "./bcrypt_queue.ts";
import { BasicAuth, parseBasicAuth } from "./basic_auth.ts";

// Fixture users (tests/fixtures/web/README.md): bcrypt cost 10, about 60 ms a check here.
const USERS = new Map([
  ["prometheus", "$2b$10$JXUsYdU8Z8fglT6oA/MQCePmags4N5PnWnzFgV.HHphEfTsJN7S2O"],
  ["grafana", "$2y$10$OBZvWFMGqH1zsPrXh6Z7te.LTR6HPlqnhOjM.tFLO66.AJP./KZIG"],
]);

const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;

/**
 * The fastest of `runs` calls, in ms. The machine is shared: load only ever slows a call down,
 * so the minimum is the figure that compares.
 */
async function fastest(runs: number, fn: () => Promise<unknown>): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    best = Math.min(best, performance.now() - start);
  }
  return best;
}

Deno.test("parseBasicAuth splits user and password at the first colon", () => {
  assert.deepEqual(parseBasicAuth(basic("prometheus", "a:b")), { user: "prometheus", password: "a:b" });
  assert.deepEqual(parseBasicAuth(`basic   ${btoa("u:")}`), { user: "u", password: "" });
});

Deno.test("parseBasicAuth rejects what is not a basic credential", () => {
  for (
    const header of [null, "", "Bearer abc", "Basic", "Basic !!!", `Basic ${btoa("no-colon")}`, "Basic /w=="]
  ) {
    assert.equal(parseBasicAuth(header), undefined, String(header));
  }
});

Deno.test("BasicAuth accepts each user's password, with $2b$ and $2y$ hashes", async () => {
  using bcrypt = new BcryptQueue();
  const auth = await BasicAuth.create(USERS, { bcrypt });
  assert.equal(await auth.check(basic("prometheus", "scrape-secret")), true);
  assert.equal(await auth.check(basic("grafana", "other-secret")), true);
});

Deno.test("BasicAuth refuses a wrong password, another user's password, an unknown user and no header", async () => {
  using bcrypt = new BcryptQueue();
  const auth = await BasicAuth.create(USERS, { bcrypt });
  assert.equal(await auth.check(basic("prometheus", "scrape-secreT")), false);
  assert.equal(await auth.check(basic("prometheus", "other-secret")), false);
  assert.equal(await auth.check(basic("nobody", "scrape-secret")), false);
  assert.equal(await auth.check(null), false);
});

Deno.test("an unknown user costs bcrypt work like a wrong password does", async () => {
  using bcrypt = new BcryptQueue();
  const auth = await BasicAuth.create(USERS, { bcrypt });
  const wrong = await fastest(3, () => auth.check(basic("prometheus", "wrong")));
  const unknown = await fastest(3, () => auth.check(basic("nobody", "wrong")));
  // Without the dummy hash the unknown user returns in microseconds, a thousand times faster.
  assert.ok(
    unknown > wrong / 3,
    `unknown user ${unknown.toFixed(1)} ms, wrong password ${wrong.toFixed(1)} ms`,
  );
});

Deno.test("a successful check is cached; a wrong password after it still pays bcrypt and fails", async () => {
  using bcrypt = new BcryptQueue();
  const auth = await BasicAuth.create(USERS, { bcrypt });
  assert.equal(await auth.check(basic("prometheus", "scrape-secret")), true);
  let ok = false;
  const cached = await fastest(5, async () => ok = await auth.check(basic("prometheus", "scrape-secret")));
  assert.equal(ok, true);
  const wrong = await fastest(3, async () => ok = await auth.check(basic("prometheus", "scrape-secret ")));
  assert.equal(ok, false);
  assert.ok(wrong > cached * 10, `wrong ${wrong.toFixed(2)} ms, cached ${cached.toFixed(2)} ms`);
});

Deno.test("the cache keeps at most cacheSize entries, dropping the least recently used", async () => {
  using bcrypt = new BcryptQueue();
  const auth = await BasicAuth.create(USERS, { bcrypt, cacheSize: 1 });
  let evicted = Infinity;
  for (let i = 0; i < 3; i++) {
    await auth.check(basic("grafana", "other-secret")); // evicts prometheus
    evicted = Math.min(evicted, await fastest(1, () => auth.check(basic("prometheus", "scrape-secret"))));
  }
  const kept = await fastest(5, () => auth.check(basic("prometheus", "scrape-secret")));
  assert.ok(evicted > kept * 10, `evicted ${evicted.toFixed(2)} ms, kept ${kept.toFixed(2)} ms`);
});

Deno.test("concurrent checks each get their own answer", async () => {
  using bcrypt = new BcryptQueue();
  const auth = await BasicAuth.create(USERS, { bcrypt });
  const answers = await Promise.all([
    auth.check(basic("prometheus", "scrape-secret")),
    auth.check(basic("prometheus", "nope")),
    auth.check(basic("grafana", "other-secret")),
    auth.check(basic("ghost", "other-secret")),
  ]);
  assert.deepEqual(answers, [true, false, true, false]);
});

Deno.test("past the bcrypt queue's bound a check is busy, while a cached credential is still ok", async () => {
  using bcrypt = new BcryptQueue({ maxPending: 2 });
  const auth = await BasicAuth.create(USERS, { bcrypt });
  assert.equal(await auth.verify(basic("prometheus", "scrape-secret")), "ok"); // now cached
  const flood = [auth.verify(basic("prometheus", "a")), auth.verify(basic("nobody", "b"))];
  assert.deepEqual(
    await Promise.all([
      auth.verify(basic("grafana", "other-secret")), // not cached: refused, not queued
      auth.verify(basic("prometheus", "scrape-secret")),
    ]),
    ["busy", "ok"],
  );
  assert.deepEqual(await Promise.all(flood), ["denied", "denied"]);
});
