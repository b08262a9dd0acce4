import assert from "node:assert/strict";
import { BasicAuth, parseBasicAuth } from "./basic_auth.ts";

// Fixture users (tests/fixtures/web/README.md): bcrypt cost 10, about 60 ms a check here.
const USERS = new Map([
  ["prometheus", "$2b$10$JXUsYdU8Z8fglT6oA/MQCePmags4N5PnWnzFgV.HHphEfTsJN7S2O"],
  ["grafana", "$2y$10$OBZvWFMGqH1zsPrXh6Z7te.LTR6HPlqnhOjM.tFLO66.AJP./KZIG"],
]);

const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
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
  const auth = await BasicAuth.create(USERS);
  assert.equal(await auth.check(basic("prometheus", "scrape-secret")), true);
  assert.equal(await auth.check(basic("grafana", "other-secret")), true);
});

Deno.test("BasicAuth refuses a wrong password, another user's password, an unknown user and no header", async () => {
  const auth = await BasicAuth.create(USERS);
  assert.equal(await auth.check(basic("prometheus", "scrape-secreT")), false);
  assert.equal(await auth.check(basic("prometheus", "other-secret")), false);
  assert.equal(await auth.check(basic("nobody", "scrape-secret")), false);
  assert.equal(await auth.check(null), false);
});

Deno.test("an unknown user costs bcrypt work like a wrong password does", async () => {
  const auth = await BasicAuth.create(USERS);
  const wrong = await timed(() => auth.check(basic("prometheus", "wrong")));
  const unknown = await timed(() => auth.check(basic("nobody", "wrong")));
  // Without the dummy hash the unknown user returns in microseconds, a thousand times faster.
  assert.ok(
    unknown > wrong / 3,
    `unknown user ${unknown.toFixed(1)} ms, wrong password ${wrong.toFixed(1)} ms`,
  );
});

Deno.test("a successful check is cached; a wrong password after it still pays bcrypt and fails", async () => {
  const auth = await BasicAuth.create(USERS);
  const first = await timed(() => auth.check(basic("prometheus", "scrape-secret")));
  let ok = false;
  const cached = await timed(async () => ok = await auth.check(basic("prometheus", "scrape-secret")));
  assert.equal(ok, true);
  assert.ok(cached < first / 10, `first ${first.toFixed(2)} ms, cached ${cached.toFixed(2)} ms`);
  const wrong = await timed(async () => ok = await auth.check(basic("prometheus", "scrape-secret ")));
  assert.equal(ok, false);
  assert.ok(wrong > cached * 10, `wrong ${wrong.toFixed(2)} ms, cached ${cached.toFixed(2)} ms`);
});

Deno.test("the cache keeps at most cacheSize entries, dropping the least recently used", async () => {
  const auth = await BasicAuth.create(USERS, { cacheSize: 1 });
  await auth.check(basic("prometheus", "scrape-secret"));
  await auth.check(basic("grafana", "other-secret")); // evicts prometheus
  const evicted = await timed(() => auth.check(basic("prometheus", "scrape-secret")));
  const kept = await timed(() => auth.check(basic("prometheus", "scrape-secret")));
  assert.ok(evicted > kept * 10, `evicted ${evicted.toFixed(2)} ms, kept ${kept.toFixed(2)} ms`);
});

Deno.test("concurrent checks each get their own answer", async () => {
  const auth = await BasicAuth.create(USERS);
  const answers = await Promise.all([
    auth.check(basic("prometheus", "scrape-secret")),
    auth.check(basic("prometheus", "nope")),
    auth.check(basic("grafana", "other-secret")),
    auth.check(basic("ghost", "other-secret")),
  ]);
  assert.deepEqual(answers, [true, false, true, false]);
});
