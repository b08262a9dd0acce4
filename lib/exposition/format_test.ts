import assert from "node:assert/strict";
import { hasCommand, promtoolCheck } from "../../tests/_promtool.ts";
import { Counter, Gauge, Histogram, Registry, Summary } from "prom-client";
import {
  CONTENT_TYPES,
  formatFamilies,
  formatFamily,
  type MetricFamily,
  OPENMETRICS_EOF,
  servedNames,
  validateFamily,
  validateLabelName,
  validateMetricName,
} from "./format.ts";

const HISTOGRAM: MetricFamily = {
  name: "http_request_duration_seconds",
  help: "Request latency.",
  type: "histogram",
  values: [
    {
      metricName: "http_request_duration_seconds_bucket",
      labels: { le: 0.005, method: "GET" },
      value: 0,
    },
    {
      metricName: "http_request_duration_seconds_bucket",
      labels: { le: 1, method: "GET" },
      value: 2,
    },
    {
      metricName: "http_request_duration_seconds_bucket",
      labels: { le: "+Inf", method: "GET" },
      value: 3,
    },
    {
      metricName: "http_request_duration_seconds_sum",
      labels: { method: "GET" },
      value: 2.5,
    },
    {
      metricName: "http_request_duration_seconds_count",
      labels: { method: "GET" },
      value: 3,
    },
  ],
};

const SUMMARY: MetricFamily = {
  name: "rpc_duration_seconds",
  help: "RPC latency.",
  type: "summary",
  values: [
    { labels: { quantile: 0.5 }, value: 0.25 },
    { labels: { quantile: 0.99 }, value: 1.5 },
    { metricName: "rpc_duration_seconds_sum", labels: {}, value: 12 },
    { metricName: "rpc_duration_seconds_count", labels: {}, value: 20 },
  ],
};

const HAS_PROMTOOL = await hasCommand("promtool");
if (!HAS_PROMTOOL) {
  console.warn("skipping the promtool test: promtool is not on PATH (apt install prometheus)");
}

Deno.test("CONTENT_TYPES names the 0.0.4 text and OpenMetrics 1.0.0 media types", () => {
  assert.deepEqual(CONTENT_TYPES, {
    text: "text/plain; version=0.0.4; charset=utf-8",
    openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
  });
});

Deno.test("formatFamily renders a text counter with escaped help and label values", () => {
  const family: MetricFamily = {
    name: "jobs_total",
    help: 'Jobs run\\done "now"\nsecond line.',
    type: "counter",
    values: [
      { labels: { path: 'C:\\tmp\\"x"\nend', code: 200 }, value: 3 },
      { labels: {}, value: 1 },
    ],
  };
  assert.equal(
    formatFamily(family, "text"),
    '# HELP jobs_total Jobs run\\\\done "now"\\nsecond line.\n' +
      "# TYPE jobs_total counter\n" +
      'jobs_total{path="C:\\\\tmp\\\\\\"x\\"\\nend",code="200"} 3\n' +
      "jobs_total 1\n",
  );
});

Deno.test("formatFamily escapes double quotes in OpenMetrics help but not in text help", () => {
  const family: MetricFamily = {
    name: "g",
    help: 'a "b" \\ c\nd',
    type: "gauge",
    values: [],
  };
  assert.equal(
    formatFamily(family, "openmetrics"),
    '# HELP g a \\"b\\" \\\\ c\\nd\n# TYPE g gauge\n',
  );
  assert.equal(
    formatFamily(family, "text"),
    '# HELP g a "b" \\\\ c\\nd\n# TYPE g gauge\n',
  );
});

Deno.test("formatFamily renders a histogram with numeric and +Inf le labels", () => {
  assert.equal(
    formatFamily(HISTOGRAM, "text"),
    "# HELP http_request_duration_seconds Request latency.\n" +
      "# TYPE http_request_duration_seconds histogram\n" +
      'http_request_duration_seconds_bucket{le="0.005",method="GET"} 0\n' +
      'http_request_duration_seconds_bucket{le="1",method="GET"} 2\n' +
      'http_request_duration_seconds_bucket{le="+Inf",method="GET"} 3\n' +
      'http_request_duration_seconds_sum{method="GET"} 2.5\n' +
      'http_request_duration_seconds_count{method="GET"} 3\n',
  );
});

Deno.test("formatFamily renders a histogram the same way in OpenMetrics", () => {
  assert.equal(
    formatFamily(HISTOGRAM, "openmetrics"),
    formatFamily(HISTOGRAM, "text"),
  );
});

Deno.test("formatFamily renders a summary with quantile labels, sum and count", () => {
  assert.equal(
    formatFamily(SUMMARY, "text"),
    "# HELP rpc_duration_seconds RPC latency.\n" +
      "# TYPE rpc_duration_seconds summary\n" +
      'rpc_duration_seconds{quantile="0.5"} 0.25\n' +
      'rpc_duration_seconds{quantile="0.99"} 1.5\n' +
      "rpc_duration_seconds_sum 12\n" +
      "rpc_duration_seconds_count 20\n",
  );
});

Deno.test("formatFamily writes NaN, +Inf and -Inf values and label values", () => {
  const family: MetricFamily = {
    name: "temperature",
    help: "Temperature.",
    type: "gauge",
    values: [
      { labels: { probe: NaN }, value: NaN },
      { labels: { probe: Infinity }, value: Infinity },
      { labels: { probe: -Infinity }, value: -Infinity },
      { labels: { probe: 1e21 }, value: -0.5 },
    ],
  };
  assert.equal(
    formatFamily(family, "text"),
    "# HELP temperature Temperature.\n" +
      "# TYPE temperature gauge\n" +
      'temperature{probe="NaN"} NaN\n' +
      'temperature{probe="+Inf"} +Inf\n' +
      'temperature{probe="-Inf"} -Inf\n' +
      'temperature{probe="1e+21"} -0.5\n',
  );
});

Deno.test("formatFamily strips _total from an OpenMetrics counter family and names samples _total", () => {
  const family: MetricFamily = {
    name: "requests_total",
    help: "Requests.",
    type: "counter",
    values: [{ labels: { code: "200" }, value: 7 }],
  };
  assert.equal(
    formatFamily(family, "openmetrics"),
    "# HELP requests Requests.\n" +
      "# TYPE requests counter\n" +
      'requests_total{code="200"} 7\n',
  );
});

Deno.test("formatFamily adds _total to OpenMetrics samples of a counter named without it", () => {
  const family: MetricFamily = {
    name: "requests",
    help: "Requests.",
    type: "counter",
    values: [{ value: 7 }],
  };
  assert.equal(
    formatFamily(family, "openmetrics"),
    "# HELP requests Requests.\n" +
      "# TYPE requests counter\n" +
      "requests_total 7\n",
  );
});

Deno.test("formatFamily keeps a text counter's name as given", () => {
  const family: MetricFamily = {
    name: "requests",
    help: "Requests.",
    type: "counter",
    values: [{ value: 7 }],
  };
  assert.equal(
    formatFamily(family, "text"),
    "# HELP requests Requests.\n# TYPE requests counter\nrequests 7\n",
  );
});

Deno.test("formatFamily writes untyped as unknown in OpenMetrics only", () => {
  const family: MetricFamily = {
    name: "thing",
    help: "Thing.",
    type: "untyped",
    values: [{ value: 1 }],
  };
  assert.equal(
    formatFamily(family, "openmetrics"),
    "# HELP thing Thing.\n# TYPE thing unknown\nthing 1\n",
  );
  assert.equal(
    formatFamily(family, "text"),
    "# HELP thing Thing.\n# TYPE thing untyped\nthing 1\n",
  );
});

Deno.test("formatFamily prints HELP and TYPE for a family without samples", () => {
  const family: MetricFamily = {
    name: "idle_total",
    help: "Nothing yet.",
    type: "counter",
    values: [],
  };
  assert.equal(
    formatFamily(family, "text"),
    "# HELP idle_total Nothing yet.\n# TYPE idle_total counter\n",
  );
  assert.equal(
    formatFamily(family, "openmetrics"),
    "# HELP idle Nothing yet.\n# TYPE idle counter\n",
  );
});

Deno.test("formatFamily ignores extra fields on families and samples", () => {
  const fromPromClient = {
    name: "up",
    help: "Up.",
    type: "gauge" as const,
    aggregator: "sum",
    values: [{ value: 1, labels: {}, exemplar: null }],
  };
  assert.equal(
    formatFamily(fromPromClient, "text"),
    "# HELP up Up.\n# TYPE up gauge\nup 1\n",
  );
});

Deno.test("formatFamilies concatenates families without blank lines or EOF", () => {
  const up: MetricFamily = {
    name: "up",
    help: "Up.",
    type: "gauge",
    values: [{ value: 1 }],
  };
  assert.equal(
    formatFamilies([up, SUMMARY], "openmetrics") + OPENMETRICS_EOF,
    "# HELP up Up.\n" +
      "# TYPE up gauge\n" +
      "up 1\n" +
      "# HELP rpc_duration_seconds RPC latency.\n" +
      "# TYPE rpc_duration_seconds summary\n" +
      'rpc_duration_seconds{quantile="0.5"} 0.25\n' +
      'rpc_duration_seconds{quantile="0.99"} 1.5\n' +
      "rpc_duration_seconds_sum 12\n" +
      "rpc_duration_seconds_count 20\n" +
      "# EOF\n",
  );
});

Deno.test("formatFamilies returns an empty string for no families", () => {
  assert.equal(formatFamilies([], "text"), "");
});

Deno.test("validateMetricName accepts names with colons and underscores", () => {
  assert.deepEqual(
    ["a", "_a", ":a", "job:rate5m_total", "A9_:"].map(validateMetricName),
    [undefined, undefined, undefined, undefined, undefined],
  );
});

Deno.test("validateMetricName explains names that break the pattern", () => {
  assert.deepEqual(["1abc", "", "a-b", "é"].map(validateMetricName), [
    'metric name "1abc" must match [a-zA-Z_:][a-zA-Z0-9_:]*',
    'metric name "" must match [a-zA-Z_:][a-zA-Z0-9_:]*',
    'metric name "a-b" must match [a-zA-Z_:][a-zA-Z0-9_:]*',
    'metric name "é" must match [a-zA-Z_:][a-zA-Z0-9_:]*',
  ]);
});

Deno.test("validateLabelName accepts names with letters, digits and single leading underscore", () => {
  assert.deepEqual(["a", "_a", "le", "A_9"].map(validateLabelName), [
    undefined,
    undefined,
    undefined,
    undefined,
  ]);
});

Deno.test("validateLabelName rejects colons, leading digits and reserved __ names", () => {
  assert.deepEqual(["a:b", "9a", "", "__name__"].map(validateLabelName), [
    'label name "a:b" must match [a-zA-Z_][a-zA-Z0-9_]*',
    'label name "9a" must match [a-zA-Z_][a-zA-Z0-9_]*',
    'label name "" must match [a-zA-Z_][a-zA-Z0-9_]*',
    'label name "__name__" must not start with "__" (reserved for internal use)',
  ]);
});

Deno.test({
  name: "formatFamilies text output of real prom-client metrics passes promtool check metrics",
  ignore: !HAS_PROMTOOL,
  async fn() {
    const registry = new Registry();
    const counter = new Counter({
      name: "app_requests_total",
      help: 'Requests handled, by "path".',
      labelNames: ["path", "code"],
      registers: [registry],
    });
    counter.inc({ path: '/a\\b"c\nd', code: "200" }, 3);
    counter.inc({ path: "/", code: "500" });
    const gauge = new Gauge({
      name: "app_temperature_celsius",
      help: "Temperature.\nSecond line with a \\ backslash.",
      labelNames: ["room"],
      registers: [registry],
    });
    gauge.set({ room: "lab" }, NaN);
    gauge.set({ room: "oven" }, Infinity);
    gauge.set({ room: "freezer" }, -18.5);
    const histogram = new Histogram({
      name: "app_request_duration_seconds",
      help: "Request latency.",
      labelNames: ["method"],
      buckets: [0.005, 0.1, 1],
      registers: [registry],
    });
    histogram.observe({ method: "GET" }, 0.05);
    histogram.observe({ method: "GET" }, 3);
    const summary = new Summary({
      name: "app_response_size_bytes",
      help: "Response size.",
      percentiles: [0.5, 0.9, 0.99],
      registers: [registry],
    });
    summary.observe(100);
    summary.observe(300);

    const families = await Promise.all(
      [counter, gauge, histogram, summary].map((m) => m.get()),
    );
    // prom-client's index.d.ts declares `type` as a numeric enum, but at run
    // time it is the string this formatter expects.
    const body = formatFamilies(
      families as unknown as MetricFamily[],
      "text",
    );

    assert.deepEqual(await promtoolCheck(body), { code: 0, stdout: "", stderr: "" }, body);
  },
});

Deno.test("formatFamily keeps explicitly named non-counter samples of an OpenMetrics counter", () => {
  const family: MetricFamily = {
    name: "requests_total",
    help: "Requests.",
    type: "counter",
    values: [
      { metricName: "requests_total", value: 7 },
      { metricName: "requests_created", value: 1700000000 },
    ],
  };
  assert.equal(
    formatFamily(family, "openmetrics"),
    "# HELP requests Requests.\n" +
      "# TYPE requests counter\n" +
      "requests_total 7\n" +
      "requests_created 1700000000\n",
  );
});

Deno.test("servedNames lists the family and sample names of each type in both formats", () => {
  assert.deepEqual(
    [
      servedNames("c", "counter"),
      servedNames("c_total", "counter"),
      servedNames("g", "gauge"),
      servedNames("h", "histogram"),
      servedNames("s", "summary"),
      servedNames("u", "untyped"),
    ],
    [
      ["c", "c_total", "c_created"],
      ["c_total", "c", "c_created"],
      ["g"],
      ["h", "h_bucket", "h_sum", "h_count"],
      ["s", "s_sum", "s_count"],
      ["u"],
    ],
  );
});

Deno.test("servedNames of an unknown type covers what a family of any type could serve", () => {
  assert.deepEqual(servedNames("x", undefined), [
    "x",
    "x_total",
    "x_created",
    "x_bucket",
    "x_sum",
    "x_count",
  ]);
});

Deno.test("validateFamily accepts what prom-client's own metrics render", async () => {
  const registry = new Registry();
  const registers = [registry];
  const c = new Counter({ name: "vf_requests_total", help: "h", labelNames: ["code"], registers });
  c.inc({ code: "200" });
  const h = new Histogram({ name: "vf_latency_seconds", help: "h", labelNames: ["path"], registers });
  h.observe({ path: "/" }, 0.1);
  const s = new Summary({ name: "vf_size_bytes", help: "h", registers });
  s.observe(3);
  new Gauge({ name: "vf_gauge", help: "h", registers }).set(NaN);
  const families = await registry.getMetricsAsJSON() as unknown as MetricFamily[];
  assert.deepEqual(families.map(validateFamily), [undefined, undefined, undefined, undefined]);
});

Deno.test("validateFamily names the first thing that would make the exposition invalid", () => {
  const gauge = (patch: Partial<MetricFamily>, sample: Record<string, unknown> = {}): MetricFamily => ({
    name: "x",
    help: "h",
    type: "gauge",
    values: [{ value: 1, ...sample }],
    ...patch,
  });
  assert.deepEqual(
    [
      gauge({}, { labels: { __name__: "y" } }),
      gauge({}, { labels: { __meta: "y" } }),
      gauge({}, { labels: { "a-b": "y" } }),
      gauge({ name: "a b" }),
      gauge({ type: "info" as MetricFamily["type"] }),
      gauge({ values: undefined as unknown as [] }),
      gauge({}, { metricName: "other" }),
      gauge({ type: "histogram" }, { metricName: "x" }),
      gauge({}, { value: "1 2" }),
      gauge({ name: undefined as unknown as string }),
    ].map(validateFamily),
    [
      'metric "x": label name "__name__" must not start with "__" (reserved for internal use)',
      'metric "x": label name "__meta" must not start with "__" (reserved for internal use)',
      'metric "x": label name "a-b" must match [a-zA-Z_][a-zA-Z0-9_]*',
      'metric name "a b" must match [a-zA-Z_:][a-zA-Z0-9_:]*',
      'metric "x" has type "info", not one of counter, gauge, histogram, summary, untyped',
      'metric "x" has no list of values',
      'metric "x" (gauge) has a sample named "other"',
      'metric "x" (histogram) has a sample named "x"',
      'metric "x" has a sample whose value is a string, not a number',
      "a metric family has no name",
    ],
  );
});
