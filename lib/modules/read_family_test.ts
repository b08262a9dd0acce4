import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { readFamily } from "./read_family.ts";
import { Slicer } from "../exposition/slicer.ts";

Deno.test("readFamily gives what get() gives for a Gauge and a Counter with labelled series", async () => {
  const registers = [new Registry()];
  const gauge = new Gauge({ name: "rf_gauge", help: "G.", labelNames: ["a", "b"], registers });
  const counter = new Counter({ name: "rf_total", help: "C.", labelNames: ["a"], registers });
  for (let i = 0; i < 1000; i++) gauge.set({ a: `x${i}`, b: String(i % 7) }, i / 3);
  counter.inc({ a: "one" });
  counter.inc({ a: "two" }, 5);
  for (const metric of [gauge, counter]) assert.deepEqual(await readFamily(metric), await metric.get());
});

Deno.test("readFamily follows a map's series after its first read: added, removed, re-added, reset", async () => {
  const registers = [new Registry()];
  const gauge = new Gauge({ name: "rf_live", help: "G.", labelNames: ["a"], registers });
  const counter = new Counter({ name: "rf_live_total", help: "C.", labelNames: ["a"], registers });
  const sorted = (family: unknown) => {
    const f = family as { values: { labels: { a: string } }[] };
    return { ...f, values: [...f.values].sort((x, y) => x.labels.a.localeCompare(y.labels.a)) };
  };
  const same = async (metric: Gauge | Counter) =>
    assert.deepEqual(sorted(await readFamily(metric)), sorted(await metric.get()));
  for (let i = 0; i < 3000; i++) gauge.set({ a: `x${i}` }, i);
  counter.inc({ a: "one" });
  await same(gauge);
  await same(counter);
  // Added after the first read: caught by the map's prototype, in order.
  for (let i = 3000; i < 3100; i++) gauge.set({ a: `x${i}` }, i);
  counter.inc({ a: "two" }, 2);
  counter.inc({ a: "one" }, 3);
  assert.deepEqual(await readFamily(gauge), await gauge.get());
  assert.deepEqual(await readFamily(counter), await counter.get());
  // Values set since the last read are read.
  gauge.set({ a: "x5" }, -1);
  assert.equal((await readFamily(gauge))!.values.find((v) => v.labels?.a === "x5")!.value, -1);
  // Removed, then one of them added again.
  gauge.remove({ a: "x1" });
  gauge.remove({ a: "x3050" });
  await same(gauge);
  assert.equal((await readFamily(gauge))!.values.length, 3098);
  gauge.set({ a: "x1" }, 11);
  await same(gauge);
  // reset() starts a new map; the old one's keys are not served.
  gauge.reset();
  assert.deepEqual((await readFamily(gauge))!.values, []);
  gauge.set({ a: "after" }, 1);
  assert.deepEqual(await readFamily(gauge), await gauge.get());
  // prom-client's own reads of a watched map still work.
  assert.equal((await gauge.get()).values.length, 1);
  assert.equal(Object.keys((gauge as unknown as { hashMap: object }).hashMap).length, 1);
  assert.match(await registers[0].metrics(), /rf_live\{a="after"\} 1/);
});

Deno.test("readFamily reads a big map in slices, with the event loop free in between", async () => {
  const registers = [new Registry()];
  const gauge = new Gauge({ name: "rf_sliced", help: "G.", labelNames: ["a"], registers });
  for (let i = 0; i < 10_000; i++) gauge.set({ a: `x${i}` }, i);
  await readFamily(gauge); // lists the keys
  let ticks = 0;
  const timer = setInterval(() => ticks++, 0);
  try {
    const family = await readFamily(gauge, new Slicer({ sliceMs: 0 }));
    assert.deepEqual(family, await gauge.get());
    // A pause every 1,024 keys when every slice is due at once: 9 pauses for 10,000 keys.
    assert.ok(ticks >= 5, `the timer ran ${ticks} times during the read`);
  } finally {
    clearInterval(timer);
  }
});

Deno.test("readFamily reads a map the module froze, and then one it emptied with reset()", async () => {
  const registers = [new Registry()];
  const gauge = new Gauge({ name: "rf_frozen", help: "G.", labelNames: ["a"], registers });
  gauge.set({ a: "x" }, 1);
  Object.preventExtensions((gauge as unknown as { hashMap: object }).hashMap);
  assert.deepEqual(await readFamily(gauge), await gauge.get());
  assert.deepEqual(await readFamily(gauge), await gauge.get());
  gauge.reset();
  gauge.set({ a: "y" }, 2);
  assert.deepEqual(await readFamily(gauge), await gauge.get());
});

Deno.test("readFamily declines what only get() can read: collect(), an overridden get(), a Histogram", async () => {
  const registers = [new Registry()];
  const collected = new Gauge({ name: "rf_collected", help: "G.", registers, collect() {} });
  class Custom extends Gauge {
    override get() {
      return super.get();
    }
  }
  const custom = new Custom({ name: "rf_custom", help: "G.", registers });
  const histogram = new Histogram({ name: "rf_h", help: "H.", registers });
  for (const metric of [collected, custom, histogram, { get: () => ({}) }]) {
    assert.equal(await readFamily(metric), undefined);
  }
  // They still work through get().
  assert.equal((await custom.get()).name, "rf_custom");
});
