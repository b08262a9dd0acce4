import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { Exposition, type FragmentSource } from "./exposition.ts";
import type { MetricFamily } from "./format.ts";

interface FakeSource extends FragmentSource {
  /** How many times families() was called. */
  calls: number;
  /** What the next families() call resolves to, or rejects with when an Error. */
  next: MetricFamily[] | Error;
  dynamic: boolean;
}

function fakeSource(name: string, next: MetricFamily[] | Error, dynamic = false): FakeSource {
  const source: FakeSource = {
    name,
    calls: 0,
    next,
    dynamic,
    isDynamic: () => source.dynamic,
    families: () => {
      source.calls++;
      return source.next instanceof Error ? Promise.reject(source.next) : Promise.resolve(source.next);
    },
  };
  return source;
}

function gauge(name: string, value: number): MetricFamily {
  return { name, help: `Gauge ${name}.`, type: "gauge", values: [{ value }] };
}

function text(name: string, value: number): string {
  return `# HELP ${name} Gauge ${name}.\n# TYPE ${name} gauge\n${name} ${value}\n`;
}

function setup() {
  const renders: [string, unknown][] = [];
  const self = { version: 0, calls: 0, families: [gauge("self_up", 1)] };
  const exposition = new Exposition({
    selfFamilies: () => {
      self.calls++;
      return self.families;
    },
    selfVersion: () => self.version,
    onRender: (name, err) => renders.push([name, err]),
    // Long enough that no test depends on the age bound.
    maxAgeMs: 60_000,
  });
  return { exposition, renders, self };
}

const decoder = new TextDecoder();

Deno.test("Exposition serves the module fragments in order, then the self families", async () => {
  const { exposition } = setup();
  exposition.set(fakeSource("a", [gauge("a_value", 1)]));
  exposition.set(fakeSource("b", [gauge("b_value", 2), gauge("b_other", 3)]));

  const body = decoder.decode(await exposition.encode("text", false));

  assert.equal(body, text("a_value", 1) + text("b_value", 2) + text("b_other", 3) + text("self_up", 1));
});

Deno.test("Exposition ends an OpenMetrics body with exactly one # EOF, and a text body with none", async () => {
  const { exposition, self } = setup();
  exposition.set(fakeSource("a", [{
    name: "a_events_total",
    help: "Events.",
    type: "counter",
    values: [{ value: 7 }],
  }]));

  const first = decoder.decode(await exposition.encode("openmetrics", false));
  self.version++;
  const second = decoder.decode(await exposition.encode("openmetrics", false));
  const plain = decoder.decode(await exposition.encode("text", false));

  const expected = "# HELP a_events Events.\n# TYPE a_events counter\na_events_total 7\n" +
    text("self_up", 1) + "# EOF\n";
  assert.equal(first, expected);
  assert.equal(second, expected);
  assert.equal(
    plain,
    "# HELP a_events_total Events.\n# TYPE a_events_total counter\na_events_total 7\n" + text("self_up", 1),
  );
});

Deno.test("Exposition with nothing to serve gives an OpenMetrics body of only # EOF", async () => {
  const { exposition, self } = setup();
  self.families = [];

  assert.equal(decoder.decode(await exposition.encode("openmetrics", false)), "# EOF\n");
});

Deno.test("Exposition renders a fragment once and serves it from cache across bodies and formats", async () => {
  const { exposition, self } = setup();
  const a = fakeSource("a", [gauge("a_value", 1)]);
  exposition.set(a);

  await exposition.encode("text", false);
  a.next = [gauge("a_value", 2)];
  // A new self version forces a new body, so only the fragment cache can explain one call.
  self.version++;
  const body = decoder.decode(await exposition.encode("text", false));
  self.version++;
  await exposition.encode("openmetrics", false);

  assert.equal(a.calls, 1);
  assert.equal(body, text("a_value", 1) + text("self_up", 1));
});

Deno.test("Exposition renders a fragment again after invalidate(name), and only that one", async () => {
  const { exposition } = setup();
  const a = fakeSource("a", [gauge("a_value", 1)]);
  const b = fakeSource("b", [gauge("b_value", 1)]);
  exposition.set(a);
  exposition.set(b);
  await exposition.encode("text", false);

  a.next = [gauge("a_value", 2)];
  b.next = [gauge("b_value", 2)];
  exposition.invalidate("a");
  exposition.invalidate("no_such_module");
  const body = decoder.decode(await exposition.encode("text", false));

  assert.deepEqual([a.calls, b.calls], [2, 1]);
  assert.equal(body, text("a_value", 2) + text("b_value", 1) + text("self_up", 1));
});

Deno.test("Exposition set() replaces a module's families under the same name", async () => {
  const { exposition } = setup();
  const old = fakeSource("a", [gauge("a_old", 1)]);
  exposition.set(old);
  exposition.set(fakeSource("b", [gauge("b_value", 1)]));
  await exposition.encode("text", false);

  exposition.set(fakeSource("a", [gauge("a_new", 2)]));
  const body = decoder.decode(await exposition.encode("text", false));

  assert.equal(body, text("a_new", 2) + text("b_value", 1) + text("self_up", 1));
  assert.equal(old.calls, 1);
});

Deno.test("Exposition delete() removes a module's families", async () => {
  const { exposition } = setup();
  exposition.set(fakeSource("a", [gauge("a_value", 1)]));
  exposition.set(fakeSource("b", [gauge("b_value", 1)]));
  await exposition.encode("text", false);

  exposition.delete("a");
  exposition.delete("no_such_module");
  const body = decoder.decode(await exposition.encode("text", false));

  assert.equal(body, text("b_value", 1) + text("self_up", 1));
});

Deno.test("Exposition drops only the families of a source whose families() rejects", async () => {
  const { exposition, renders } = setup();
  const err = new Error("collect failed");
  exposition.set(fakeSource("a", [gauge("a_value", 1)]));
  exposition.set(fakeSource("b", err));
  exposition.set(fakeSource("c", [gauge("c_value", 3)]));

  const plain = decoder.decode(await exposition.encode("text", false));
  const open = decoder.decode(await exposition.encode("openmetrics", false));

  assert.equal(plain, text("a_value", 1) + text("c_value", 3) + text("self_up", 1));
  assert.equal(open, text("a_value", 1) + text("c_value", 3) + text("self_up", 1) + "# EOF\n");
  // Fragments render concurrently: only each module's outcomes are ordered.
  assert.deepEqual(renders.toSorted(([x], [y]) => x.localeCompare(y)), [
    ["a", undefined],
    ["a", undefined],
    ["b", err],
    ["b", err],
    ["c", undefined],
    ["c", undefined],
  ]);
});

Deno.test("Exposition retries a failed source and reports its recovery to onRender with no error", async () => {
  const { exposition, renders, self } = setup();
  const err = new Error("collect failed");
  const b = fakeSource("b", err);
  exposition.set(b);
  await exposition.encode("text", false);

  b.next = [gauge("b_value", 2)];
  self.version++;
  const body = decoder.decode(await exposition.encode("text", false));

  assert.equal(b.calls, 2);
  assert.equal(body, text("b_value", 2) + text("self_up", 1));
  assert.deepEqual(renders, [["b", err], ["b", undefined]]);
});

Deno.test("Exposition renders a dynamic source at every encode and keeps static ones cached", async () => {
  const { exposition } = setup();
  const dynamic = fakeSource("dyn", [gauge("dyn_value", 1)], true);
  const fixed = fakeSource("fixed", [gauge("fixed_value", 1)]);
  exposition.set(dynamic);
  exposition.set(fixed);

  const bodies: string[] = [];
  for (const value of [1, 2, 3]) {
    dynamic.next = [gauge("dyn_value", value)];
    bodies.push(decoder.decode(await exposition.encode("text", false)));
  }

  assert.deepEqual([dynamic.calls, fixed.calls], [3, 1]);
  assert.deepEqual(
    bodies,
    [1, 2, 3].map((value) => text("dyn_value", value) + text("fixed_value", 1) + text("self_up", 1)),
  );
});

Deno.test("Exposition encode(format, true) is the gzip of encode(format, false)", async () => {
  const { exposition } = setup();
  exposition.set(fakeSource("a", [gauge("a_value", 1)]));

  for (const format of ["text", "openmetrics"] as const) {
    const plain = await exposition.encode(format, false);
    const gzipped = await exposition.encode(format, true);
    // 0x1f 0x8b is the gzip magic; without it this would pass for an uncompressed copy.
    assert.deepEqual([...gzipped.subarray(0, 2)], [0x1f, 0x8b]);
    assert.deepEqual(new Uint8Array(gunzipSync(gzipped)), plain);
  }
});

Deno.test("Exposition serves the body from cache until selfVersion() changes", async () => {
  const { exposition, self } = setup();
  exposition.set(fakeSource("a", [gauge("a_value", 1)]));

  const first = decoder.decode(await exposition.encode("text", false));
  self.families = [gauge("self_up", 0)];
  const cached = decoder.decode(await exposition.encode("text", false));
  const callsBefore = self.calls;
  self.version++;
  const fresh = decoder.decode(await exposition.encode("text", false));

  assert.equal(first, text("a_value", 1) + text("self_up", 1));
  assert.equal(cached, first);
  assert.equal(callsBefore, 1);
  assert.equal(self.calls, 2);
  assert.equal(fresh, text("a_value", 1) + text("self_up", 0));
});

Deno.test("Exposition does not lose an invalidate() that arrives while families() is in flight", async () => {
  const { exposition, self } = setup();
  const a = fakeSource("a", [gauge("a_value", 1)]);
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  // The first call reads the old value, then waits; meanwhile the module updates and invalidates.
  a.families = () => {
    a.calls++;
    const snapshot = a.next as MetricFamily[];
    return a.calls === 1 ? gate.then(() => snapshot) : Promise.resolve(snapshot);
  };
  exposition.set(a);

  const inFlight = exposition.encode("text", false);
  a.next = [gauge("a_value", 2)];
  exposition.invalidate("a");
  release();
  await inFlight;
  self.version++;
  const body = decoder.decode(await exposition.encode("text", false));

  assert.equal(body, text("a_value", 2) + text("self_up", 1));
});

Deno.test("Exposition leaves out a fragment that does not render within renderTimeoutMs", async () => {
  const errors: unknown[] = [];
  const exposition = new Exposition({
    selfFamilies: () => [],
    selfVersion: () => 0,
    onRender: (_name, err) => errors.push(err),
    renderTimeoutMs: 20,
  });
  exposition.set({ name: "stuck", isDynamic: () => true, families: () => new Promise(() => {}) });
  assert.equal(await exposition.render("text"), "");
  assert.equal((errors[0] as Error).message, "metrics did not render within 20ms");
});

Deno.test("Exposition leaves out a fragment still rendering at the deadline, and serves the others", async () => {
  const { exposition, renders } = setup();
  exposition.set({ name: "stuck", isDynamic: () => true, families: () => new Promise(() => {}) });
  exposition.set(fakeSource("late", [gauge("late_value", 1)], true));
  const started = performance.now();
  // The render timeout is 5s by default: the deadline, 50ms away, is what ends this render.
  const body = decoder.decode(await exposition.encode("text", false, performance.now() + 50));
  assert.ok(performance.now() - started < 4000, `took ${performance.now() - started}ms`);
  assert.equal(body, text("late_value", 1) + text("self_up", 1));
  assert.deepEqual(renders.map(([name, err]) => [name, (err as Error | undefined)?.message]), [
    ["late", undefined],
    ["stuck", "metrics did not render within the scrape timeout (X-Prometheus-Scrape-Timeout-Seconds)"],
  ]);
});

Deno.test("Exposition leaves out the invalid families of a source and reports them as its render error", async () => {
  const { exposition, renders } = setup();
  const bad: MetricFamily = { ...gauge("bad_value", 1), values: [{ labels: { __name__: "x" }, value: 1 }] };
  const source = fakeSource("m", [gauge("m_value", 1), bad, { ...gauge("also bad", 2) }]);
  exposition.set(source);
  const plain = decoder.decode(await exposition.encode("text", false));
  const open = decoder.decode(await exposition.encode("openmetrics", false));
  assert.equal(plain, text("m_value", 1) + text("self_up", 1));
  assert.equal(open, text("m_value", 1) + text("self_up", 1) + "# EOF\n");
  const message = 'families left out: metric "bad_value": label name "__name__" must not start with "__" ' +
    '(reserved for internal use); metric name "also bad" must match [a-zA-Z_:][a-zA-Z0-9_:]*';
  // Both formats, the second from the cached families: the error holds until the module renders clean.
  assert.deepEqual(renders.map(([name, err]) => [name, (err as Error).message]), [["m", message], [
    "m",
    message,
  ]]);
  source.next = [gauge("m_value", 2)];
  exposition.invalidate("m");
  await exposition.encode("text", false);
  assert.deepEqual(renders[2], ["m", undefined]);
});

Deno.test("Exposition serves a body whose self-metrics only aged while it builds the next, then the next", async () => {
  const self = { families: [gauge("self_up", 1)] };
  const exposition = new Exposition({
    selfFamilies: () => self.families,
    selfVersion: () => 0,
    onRender: () => {},
    maxAgeMs: 20,
  });
  exposition.set(fakeSource("a", [gauge("a_value", 1)]));
  const first = decoder.decode(await exposition.encode("text", false));
  // process_* values change without a version: only age makes them render again.
  self.families = [gauge("self_up", 2)];
  await new Promise((resolve) => setTimeout(resolve, 40));

  const stale = decoder.decode(await exposition.encode("text", false));
  let fresh = stale;
  const deadline = performance.now() + 5000;
  while (fresh === stale && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    fresh = decoder.decode(await exposition.encode("text", false));
  }

  assert.equal(first, text("a_value", 1) + text("self_up", 1));
  assert.equal(stale, first);
  assert.equal(fresh, text("a_value", 1) + text("self_up", 2));
});

Deno.test("Exposition never serves an aged body once a fragment changed: the next scrape has the new values", async () => {
  const exposition = new Exposition({
    selfFamilies: () => [gauge("self_up", 1)],
    selfVersion: () => 0,
    onRender: () => {},
    maxAgeMs: 20,
  });
  const a = fakeSource("a", [gauge("a_value", 1)]);
  exposition.set(a);
  await exposition.encode("text", true);
  await new Promise((resolve) => setTimeout(resolve, 40));
  a.next = [gauge("a_value", 2)];
  exposition.invalidate("a");
  const plain = decoder.decode(await exposition.encode("text", false));
  const gzipped = decoder.decode(gunzipSync(await exposition.encode("text", true)));
  assert.equal(plain, text("a_value", 2) + text("self_up", 1));
  assert.equal(gzipped, plain);
});

Deno.test("Exposition with prebuild renders the next body after invalidate(), before any scrape asks", async () => {
  const exposition = new Exposition({
    selfFamilies: () => [gauge("self_up", 1)],
    selfVersion: () => 0,
    onRender: () => {},
    maxAgeMs: 60_000,
    prebuild: true,
  });
  const a = fakeSource("a", [gauge("a_value", 1)]);
  exposition.set(a);
  await exposition.encode("text", true);
  a.next = [gauge("a_value", 2)];
  exposition.invalidate("a");
  const deadline = performance.now() + 5000;
  while (a.calls < 2 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  // Rendered before any scrape asked; the scrape renders nothing again.
  const beforeScrape = a.calls;
  const gzipped = decoder.decode(gunzipSync(await exposition.encode("text", true)));
  assert.equal(beforeScrape, 2);
  assert.equal(a.calls, 2);
  assert.equal(gzipped, text("a_value", 2) + text("self_up", 1));
});

Deno.test("Exposition cached() gives a built body at once, and nothing when a render or an encoding is missing", async () => {
  const { exposition } = setup();
  const a = fakeSource("a", [gauge("a_value", 1)]);
  exposition.set(a);
  assert.equal(exposition.cached("text", false), undefined);
  const plain = await exposition.encodeParts("text", false);
  assert.equal(exposition.cached("text", false), plain);
  // That encoding was not made yet: encodeParts() makes it.
  assert.equal(exposition.cached("text", true), undefined);
  const gzip = await exposition.encodeParts("text", true);
  assert.equal(exposition.cached("text", true), gzip);
  assert.equal(exposition.cached("openmetrics", false), undefined);
  // A changed fragment is never served from the old body.
  a.next = [gauge("a_value", 2)];
  exposition.invalidate("a");
  assert.equal(exposition.cached("text", false), undefined);
  assert.equal(
    decoder.decode(await exposition.encode("text", false)),
    text("a_value", 2) + text("self_up", 1),
  );
  // A dynamic source renders at every scrape: never cached.
  exposition.set(fakeSource("d", [gauge("d_value", 1)], true));
  await exposition.encode("text", false);
  assert.equal(exposition.cached("text", false), undefined);
});

Deno.test("Exposition gives a body as its parts, never copied together, and its gzip as one stream of parts", async () => {
  const { exposition } = setup();
  const many = (name: string): MetricFamily => ({
    name,
    help: "Many.",
    type: "gauge",
    values: Array.from({ length: 3000 }, (_, i) => ({ value: i, labels: { series: `s${i}` } })),
  });
  exposition.set(fakeSource("a", [many("a_many")]));
  exposition.set(fakeSource("b", [many("b_many")]));
  const parts = await exposition.encodeParts("text", false);
  assert.equal(parts.length, 3);
  const whole = await exposition.encode("text", false);
  assert.equal(whole.length, parts.reduce((n, p) => n + p.length, 0));
  assert.match(decoder.decode(parts[0]), /^# HELP a_many/);
  assert.match(decoder.decode(parts[2]), /^# HELP self_up/);
  // The same fragment bytes serve the next body: only the self-metrics part is new.
  const again = await exposition.encodeParts("text", false);
  assert.equal(again[0], parts[0]);
  assert.equal(
    decoder.decode(gunzipSync(await exposition.encode("text", true))),
    decoder.decode(whole),
  );
});

Deno.test("Exposition samples(name) counts what a module serves as of its last render", async () => {
  const { exposition } = setup();
  const a = fakeSource("a", [gauge("a_value", 1), {
    name: "a_by_disk",
    help: "By disk.",
    type: "gauge",
    values: [{ labels: { disk: "sda" }, value: 1 }, { labels: { disk: "sdb" }, value: 2 }],
  }]);
  exposition.set(a);
  assert.equal(exposition.samples("a"), 0);
  await exposition.encode("text", false);
  assert.equal(exposition.samples("a"), 3);
  a.next = [gauge("a_value", 1)];
  exposition.invalidate("a");
  await exposition.encode("text", false);
  assert.equal(exposition.samples("a"), 1);
  exposition.delete("a");
  assert.equal(exposition.samples("a"), undefined);
});

Deno.test("Exposition fragment(name) is that module's families alone", async () => {
  const { exposition } = setup();
  exposition.set(fakeSource("a", [gauge("a_value", 1)]));
  exposition.set(fakeSource("b", [gauge("b_value", 2)]));
  assert.equal(await exposition.fragment("b", "text"), text("b_value", 2));
  assert.equal(await exposition.fragment("c", "text"), undefined);
});

Deno.test("Exposition served(name) gives a static module's families as held, without a render", async () => {
  const { exposition } = setup();
  const a = fakeSource("a", [gauge("a_value", 1)]);
  exposition.set(a);
  assert.deepEqual(await exposition.served("a"), { families: [gauge("a_value", 1)], atScrape: false });
  await exposition.encode("text", false);
  const calls = a.calls;
  assert.deepEqual(await exposition.served("a"), { families: [gauge("a_value", 1)], atScrape: false });
  assert.equal(a.calls, calls, "the rendered families are read, not asked for again");
  exposition.delete("a");
  assert.equal(await exposition.served("a"), undefined);
});

Deno.test("Exposition served(name) gives a dynamic module's families of its last render, never calling it", async () => {
  const { exposition } = setup();
  const d = fakeSource("d", [gauge("d_value", 1)], true);
  exposition.set(d);
  assert.deepEqual(await exposition.served("d"), { families: undefined, atScrape: true });
  assert.equal(d.calls, 0);
  await exposition.encode("text", false);
  d.next = [gauge("d_value", 2)];
  assert.deepEqual(await exposition.served("d"), { families: [gauge("d_value", 1)], atScrape: true });
  assert.equal(d.calls, 1);
});
