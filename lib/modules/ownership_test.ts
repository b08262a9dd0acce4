import assert from "node:assert/strict";
import { Counter, Gauge, Histogram, Registry, Summary } from "prom-client";
import { MetricOwner, MetricOwnership, type PromRegistry } from "./ownership.ts";

/** A fresh prom-client registry taken over for the test; metrics register on it with `registers`. */
function setup(reserved: { name: string; type: "counter" | "gauge" }[] = []) {
  const registry = new Registry();
  const ownership = new MetricOwnership(registry as unknown as PromRegistry, { reserved });
  const a = new MetricOwner("a");
  const b = new MetricOwner("b");
  const registers = [registry];
  const gauge = (name: string, labelNames: string[] = []) =>
    new Gauge({ name, help: "h", labelNames, registers });
  return { registry, ownership, a, b, registers, gauge };
}

const messageOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as Error).message;
  }
  return "(did not throw)";
};

Deno.test("MetricOwnership refuses a metric whose served names another module's metric serves", () => {
  const { ownership, a, b, registers, gauge } = setup();
  ownership.runAs(a, () => {
    new Counter({ name: "c_gt", help: "h", registers });
    new Histogram({ name: "c_dup", help: "h", registers });
    new Summary({ name: "s_dup", help: "h", registers });
  });
  assert.deepEqual(
    ["c_gt_total", "c_dup_bucket", "c_dup_count", "s_dup_sum"].map((name) =>
      messageOf(() => ownership.runAs(b, () => gauge(name)))
    ),
    [
      `metric "c_gt_total" would serve "c_gt_total", which module "a"'s metric "c_gt" serves`,
      `metric "c_dup_bucket" would serve "c_dup_bucket", which module "a"'s metric "c_dup" serves`,
      `metric "c_dup_count" would serve "c_dup_count", which module "a"'s metric "c_dup" serves`,
      `metric "s_dup_sum" would serve "s_dup_sum", which module "a"'s metric "s_dup" serves`,
    ],
  );
  // A counter named with _total and a gauge named without it share the OpenMetrics family name.
  ownership.runAs(b, () => gauge("x"));
  assert.equal(
    messageOf(() => ownership.runAs(a, () => new Counter({ name: "x_total", help: "h", registers }))),
    `metric "x_total" would serve "x", which module "b"'s metric "x" serves`,
  );
  assert.deepEqual(b.metrics.size, 1);
  ownership.close();
});

Deno.test("MetricOwnership refuses the exporter's own names, and names its own collisions too", () => {
  const { ownership, a, registers, gauge } = setup([{ name: "process_cpu_seconds_total", type: "counter" }]);
  assert.deepEqual(
    [
      messageOf(() =>
        ownership.runAs(a, () => new Counter({ name: "process_cpu_seconds_total", help: "h", registers }))
      ),
      messageOf(() => ownership.runAs(a, () => gauge("process_cpu_seconds"))),
      messageOf(() =>
        ownership.runAs(a, () => new Counter({ name: "dynamic_exporter", help: "h", registers }))
      ),
      messageOf(() => ownership.runAs(a, () => gauge("dynamic_exporter_x"))),
    ],
    [
      `metric "process_cpu_seconds_total" would serve "process_cpu_seconds_total", which the exporter serves itself`,
      `metric "process_cpu_seconds" would serve "process_cpu_seconds", which the exporter serves itself`,
      `metric "dynamic_exporter" would serve "dynamic_exporter_total", which uses the reserved prefix "dynamic_exporter_"`,
      `metric "dynamic_exporter_x" uses the reserved prefix "dynamic_exporter_"`,
    ],
  );
  ownership.runAs(a, () => new Counter({ name: "own_total", help: "h", registers }));
  assert.equal(
    messageOf(() => ownership.runAs(a, () => gauge("own"))),
    `metric "own" would serve "own", which this module's metric "own_total" serves`,
  );
  ownership.close();
});

Deno.test("MetricOwnership refuses a __ label name at registration, naming it", () => {
  const { ownership, a, gauge } = setup();
  assert.equal(
    messageOf(() => ownership.runAs(a, () => gauge("labelled", ["ok", "__name__"]))),
    `metric "labelled": label name "__name__" must not start with "__" (reserved for internal use)`,
  );
  assert.equal(a.metrics.size, 0);
  ownership.close();
});

Deno.test("MetricOwnership frees a removed metric's served names for another module", () => {
  const { ownership, registry, a, b, registers, gauge } = setup();
  ownership.runAs(a, () => new Histogram({ name: "h", help: "h", registers }));
  ownership.runAs(a, () => registry.removeSingleMetric("h"));
  ownership.runAs(b, () => gauge("h_bucket"));
  assert.deepEqual([...b.metrics.keys()], ["h_bucket"]);
  ownership.close();
});

Deno.test("a module's registry calls see, reset and remove only its own metrics", async () => {
  const { ownership, registry, a, b, gauge } = setup();
  const mine = ownership.runAs(a, () => gauge("mine"));
  const theirs = ownership.runAs(b, () => gauge("theirs"));
  theirs.set(7);
  mine.set(1);
  const seen = ownership.runAs(a, () => {
    registry.resetMetrics();
    registry.removeSingleMetric("theirs");
    return {
      single: registry.getSingleMetric("theirs"),
      array: registry.getMetricsAsArray().map((m) => m.name),
      internal: Object.keys((registry as unknown as PromRegistry)._metrics),
    };
  });
  assert.deepEqual(seen, { single: undefined, array: ["mine"], internal: ["mine"] });
  const text = await ownership.runAs(a, () => (registry as unknown as Registry).metrics());
  assert.equal(text, "# HELP mine h\n# TYPE mine gauge\nmine 0\n");
  assert.equal(ownership.registered("theirs"), theirs);
  assert.deepEqual((await theirs.get()).values.map((v) => v.value), [7]);
  // The same name is still taken: the module learns that, not the object.
  assert.equal(
    messageOf(() => ownership.runAs(a, () => gauge("theirs"))),
    `metric "theirs" is already registered by module "b"`,
  );
  ownership.runAs(a, () => registry.clear());
  assert.deepEqual([a.metrics.size, b.metrics.size], [0, 1]);
  ownership.close();
});

Deno.test("MetricOwnership.families() drops nothing valid, and refuses a family renamed to another's name", async () => {
  const { ownership, registry, a, b, gauge } = setup();
  ownership.runAs(b, () => gauge("victim"));
  const forged = {
    name: "forged",
    get: () => ({ name: "victim", help: "h", type: "gauge", values: [{ value: 666 }] }),
  };
  ownership.runAs(a, () => {
    gauge("fine").set(2);
    (registry as unknown as PromRegistry).registerMetric(forged);
  });
  await assert.rejects(() => ownership.families(a), {
    message: `metric "forged" rendered a family "victim" that serves "victim", a name it did not register`,
  });
  forged.get = () => ({ name: "forged", help: "h", type: "gauge", values: [{ value: 1 }] });
  assert.deepEqual((await ownership.families(a)).map((f) => f.name), ["fine", "forged"]);
  ownership.close();
});

Deno.test("a metric's map is followed from its registration: the first read after a run lists no keys", async () => {
  const { ownership, a, gauge } = setup();
  const big = ownership.runAs(a, () => gauge("followed", ["series"]));
  // The module's first run, after the import: 5,000 new series.
  for (let i = 0; i < 5000; i++) big.set({ series: `s${i}` }, i);
  const map = (big as unknown as { hashMap: object }).hashMap;
  const keys = Object.keys;
  let listed = 0;
  Object.keys = (o: object) => {
    if (o === map) listed++;
    return keys(o);
  };
  let families;
  try {
    families = await ownership.families(a);
  } finally {
    Object.keys = keys;
  }
  assert.equal(listed, 0, "the read listed the map's keys");
  assert.deepEqual(families, [await big.get()]);
  ownership.close();
});

Deno.test("MetricOwnership attributes registrations inside a collect() to the metric's owner", async () => {
  const { ownership, a, registers } = setup();
  ownership.runAs(a, () =>
    new Gauge({
      name: "collecting",
      help: "h",
      registers,
      collect() {
        if (registers[0].getSingleMetric("late") === undefined) {
          new Gauge({ name: "late", help: "h", registers });
        }
      },
    }));
  await ownership.families(a);
  assert.deepEqual([...a.metrics.keys()], ["collecting", "late"]);
  assert.equal(ownership.unowned.metrics.size, 0);
  ownership.close();
});

Deno.test("a retired owner's metrics go, and it can register nothing later", () => {
  const { ownership, a, b, gauge } = setup();
  ownership.runAs(a, () => gauge("during_dispose"));
  ownership.retire(a);
  assert.equal(ownership.registered("during_dispose"), undefined);
  assert.equal(
    messageOf(() => ownership.runAs(a, () => gauge("after"))),
    `metric "after" cannot be registered: this version of module "a" is retired`,
  );
  ownership.runAs(b, () => gauge("during_dispose"));
  assert.deepEqual([...b.metrics.keys()], ["during_dispose"]);
  ownership.close();
});

Deno.test("MetricOwnership.close() gives the registry its own methods and every metric back", () => {
  const { ownership, registry, a, gauge } = setup();
  const original = Registry.prototype.getSingleMetric;
  ownership.runAs(a, () => gauge("kept"));
  assert.throws(() => new MetricOwnership(registry as unknown as PromRegistry), /already taken over/);
  ownership.close();
  assert.equal(registry.getSingleMetric, original);
  assert.deepEqual(registry.getMetricsAsArray().map((m) => m.name), ["kept"]);
});
