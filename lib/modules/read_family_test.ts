import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { readFamily } from "./read_family.ts";

Deno.test("readFamily gives what get() gives for a Gauge and a Counter with labelled series", async () => {
  const registers = [new Registry()];
  const gauge = new Gauge({ name: "rf_gauge", help: "G.", labelNames: ["a", "b"], registers });
  const counter = new Counter({ name: "rf_total", help: "C.", labelNames: ["a"], registers });
  for (let i = 0; i < 1000; i++) gauge.set({ a: `x${i}`, b: String(i % 7) }, i / 3);
  counter.inc({ a: "one" });
  counter.inc({ a: "two" }, 5);
  for (const metric of [gauge, counter]) assert.deepEqual(readFamily(metric), await metric.get());
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
    assert.equal(readFamily(metric), undefined);
  }
  // They still work through get().
  assert.equal((await custom.get()).name, "rf_custom");
});
