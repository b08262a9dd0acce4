import assert from "node:assert/strict";
import { BcryptQueue } from "./bcrypt_queue.ts";

// tests/fixtures/web/README.md: prometheus / scrape-secret, bcrypt cost 10.
const HASH = "$2b$10$JXUsYdU8Z8fglT6oA/MQCePmags4N5PnWnzFgV.HHphEfTsJN7S2O";

Deno.test("BcryptQueue compares on its Worker and makes hashes that compare", async () => {
  using bcrypt = new BcryptQueue();
  assert.deepEqual(
    await Promise.all([bcrypt.compare("scrape-secret", HASH), bcrypt.compare("nope", HASH)]),
    [true, false],
  );
  const hash = await bcrypt.hash("s", 4);
  assert.match(hash, /^\$2b\$04\$/);
  assert.equal(await bcrypt.compare("s", hash), true);
});

Deno.test("BcryptQueue answers busy at once past maxPending, and takes checks again once they drain", async () => {
  using bcrypt = new BcryptQueue({ maxPending: 2 });
  const first = [bcrypt.compare("a", HASH), bcrypt.compare("scrape-secret", HASH)];
  assert.equal(bcrypt.pending, 2);
  assert.equal(await bcrypt.compare("c", HASH), "busy");
  assert.equal(bcrypt.pending, 2);
  assert.deepEqual(await Promise.all(first), [false, true]);
  assert.equal(bcrypt.pending, 0);
  assert.equal(await bcrypt.compare("scrape-secret", HASH), true);
});

Deno.test("BcryptQueue keeps the calling thread free while it works", async () => {
  using bcrypt = new BcryptQueue();
  const checks = Promise.all(Array.from({ length: 8 }, () => bcrypt.compare("wrong", HASH)));
  // Eight checks take about half a second of CPU. On the calling thread a timer would wait
  // for them; here it fires while they run.
  let checksDone = false;
  checks.then(() => checksDone = true);
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 10));
  const lag = performance.now() - started;
  assert.equal(checksDone, false, `timer lag ${lag.toFixed(0)} ms`);
  assert.deepEqual(await checks, Array(8).fill(false));
});

Deno.test("BcryptQueue close rejects pending checks and refuses new ones", async () => {
  const bcrypt = new BcryptQueue();
  const pending = bcrypt.compare("x", HASH);
  bcrypt.close();
  await assert.rejects(pending, /bcrypt queue closed/);
  await assert.rejects(bcrypt.compare("x", HASH), /bcrypt queue closed/);
});
