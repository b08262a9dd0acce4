import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { followKeys, readFamily } from "./read_family.ts";
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

/** How many times `Object.keys` was called on one of `maps` while `fn` ran. */
async function listings(maps: () => object[], fn: () => Promise<unknown>): Promise<number> {
  const keys = Object.keys;
  let count = 0;
  Object.keys = (o: object) => {
    if (maps().includes(o)) count++;
    return keys(o);
  };
  try {
    await fn();
  } finally {
    Object.keys = keys;
  }
  return count;
}

Deno.test("followKeys: a metric followed from its creation is read without listing its map, after reset() too", async () => {
  const registers = [new Registry()];
  const gauge = new Gauge({ name: "rf_followed", help: "G.", labelNames: ["a"], registers });
  const counter = new Counter({ name: "rf_followed_total", help: "C.", registers });
  class Resetting extends Gauge {
    resets = 0;
    override reset() {
      this.resets++;
      super.reset();
    }
  }
  const custom = new Resetting({ name: "rf_followed_custom", help: "G.", labelNames: ["a"], registers });
  const metrics = [gauge, counter, custom];
  for (const metric of metrics) followKeys(metric);
  followKeys(gauge); // twice is once
  const maps = () => metrics.map((m) => (m as unknown as { hashMap: object }).hashMap);
  const fill = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      gauge.set({ a: `x${i}` }, i);
      custom.set({ a: `y${i}` }, -i);
    }
    counter.inc(2);
  };
  fill(0, 2000);
  // The same families as get(), in the same order, and no Object.keys of a map on the way.
  const read = async () => {
    for (const metric of metrics) assert.deepEqual(await readFamily(metric), await metric.get());
  };
  // get() itself lists the maps (Object.values): compare outside the count.
  assert.equal(await listings(maps, () => Promise.all(metrics.map((m) => readFamily(m)))), 0);
  await read();
  // reset() makes a new map, followed at once: still nothing to list after it fills again.
  gauge.reset();
  custom.reset();
  registers[0].resetMetrics();
  // (The class field starts at 0 after prom-client's constructor has called reset() once.)
  assert.equal(custom.resets, 2, "the subclass's own reset() still runs");
  fill(5000, 6000);
  assert.equal(await listings(maps, () => Promise.all(metrics.map((m) => readFamily(m)))), 0);
  await read();
  // What the module sees of the metric is as it was.
  assert.ok(!Object.keys(gauge).includes("reset"));
  assert.equal(Object.getPrototypeOf(gauge), Gauge.prototype);
  // Anything else is left alone.
  for (const other of [new Histogram({ name: "rf_followed_h", help: "H.", registers }), {}, null, 1]) {
    followKeys(other);
  }
  assert.equal(
    Object.getOwnPropertyDescriptor(registers[0].getSingleMetric("rf_followed_h"), "reset"),
    undefined,
  );
});

Deno.test("readFamily lists a map it did not follow at its first read only", async () => {
  const registers = [new Registry()];
  const gauge = new Gauge({ name: "rf_unfollowed", help: "G.", labelNames: ["a"], registers });
  for (let i = 0; i < 100; i++) gauge.set({ a: `x${i}` }, i);
  const map = () => [(gauge as unknown as { hashMap: object }).hashMap];
  assert.equal(await listings(map, () => readFamily(gauge)), 1);
  gauge.set({ a: "new" }, 1);
  assert.equal(await listings(map, () => readFamily(gauge)), 0);
  assert.deepEqual(await readFamily(gauge), await gauge.get());
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
