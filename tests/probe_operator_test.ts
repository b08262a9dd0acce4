/**
 * contrib/prometheus/probe.operator.yml (issue 20), a Prometheus Operator `Probe`, checked
 * against the CRD's schema with no cluster: the part of the schema a Probe of the multi-target
 * pattern uses is written down below, as the operator's CRD states it, and the example is
 * validated against it as the API server would with kubectl's default `--validate=strict`
 * (unknown fields fail, wrong types fail).
 */

import assert from "node:assert/strict";
import yaml from "js-yaml";
import { parseDuration } from "../lib/duration.ts";

const EXAMPLE = new URL("../contrib/prometheus/probe.operator.yml", import.meta.url);

/** OpenAPI v3 schema, only the keywords the Probe CRD uses on the fields written down here. */
type Schema =
  | { type: "string"; pattern?: string; enum?: string[]; minLength?: number }
  | { type: "integer"; minimum?: number }
  | { type: "boolean" }
  | { type: "int-or-string"; pattern?: string }
  | { type: "array"; items?: Schema; minItems?: number }
  | {
    type: "object";
    /** Without properties or additionalProperties: an object whose fields are not written down here. */
    properties?: Record<string, Schema>;
    additionalProperties?: Schema;
    required?: string[];
  };

/** `interval` and `scrapeTimeout`: Prometheus' duration syntax. */
const DURATION =
  "^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$";
const SCRAPE_PROTOCOLS = [
  "PrometheusProto",
  "OpenMetricsText0.0.1",
  "OpenMetricsText1.0.0",
  "PrometheusText0.0.4",
  "PrometheusText1.0.0",
];
const LIMIT: Schema = { type: "integer", minimum: 0 };
const STRING_MAP: Schema = { type: "object", additionalProperties: { type: "string" } };
/** Fields a subset leaves out: an object, its own fields not checked. */
const OBJECT: Schema = { type: "object" };

/**
 * The Probe CRD's schema, `spec.versions[0].schema.openAPIV3Schema` of
 * example/prometheus-operator-crd/monitoring.coreos.com_probes.yaml in
 * github.com/prometheus-operator/prometheus-operator (v0.93.0, commit 6adcebc5076c). Every
 * field of `spec` is named with its type; the objects the multi-target pattern uses (prober,
 * targets.staticConfig, params) are written down in full; the others (authorization,
 * basicAuth, oauth2, tlsConfig, relabelings, targets.ingress) are objects or arrays whose insides
 * are not checked. `metadata` is Kubernetes' ObjectMeta (the CRD says only `object`): the fields
 * an example sets.
 */
const PROBE: Schema = {
  type: "object",
  required: ["spec"],
  properties: {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: {
      type: "object",
      properties: {
        name: { type: "string" },
        namespace: { type: "string" },
        labels: STRING_MAP,
        annotations: STRING_MAP,
      },
    },
    spec: {
      type: "object",
      properties: {
        authorization: OBJECT,
        basicAuth: OBJECT,
        bearerTokenSecret: OBJECT,
        convertClassicHistogramsToNHCB: { type: "boolean" },
        enableHttp2: { type: "boolean" },
        fallbackScrapeProtocol: { type: "string", enum: SCRAPE_PROTOCOLS },
        followRedirects: { type: "boolean" },
        interval: { type: "string", pattern: DURATION },
        jobName: { type: "string" },
        keepDroppedTargets: LIMIT,
        labelLimit: LIMIT,
        labelNameLengthLimit: LIMIT,
        labelValueLengthLimit: LIMIT,
        metricRelabelings: { type: "array", items: OBJECT },
        module: { type: "string" },
        nativeHistogramBucketLimit: LIMIT,
        nativeHistogramMinBucketFactor: {
          type: "int-or-string",
          pattern:
            "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$",
        },
        oauth2: OBJECT,
        params: {
          type: "array",
          minItems: 1,
          items: {
            type: "object",
            required: ["name"],
            properties: {
              name: { type: "string", minLength: 1 },
              values: { type: "array", minItems: 1, items: { type: "string", minLength: 1 } },
            },
          },
        },
        prober: {
          type: "object",
          required: ["url"],
          properties: {
            noProxy: { type: "string" },
            path: { type: "string" },
            proxyConnectHeader: OBJECT,
            proxyFromEnvironment: { type: "boolean" },
            proxyUrl: { type: "string", pattern: "^(http|https|socks5)://.+$" },
            scheme: { type: "string", enum: ["http", "https", "HTTP", "HTTPS"] },
            url: { type: "string", minLength: 1 },
          },
        },
        sampleLimit: LIMIT,
        scrapeClass: { type: "string", minLength: 1 },
        scrapeClassicHistograms: { type: "boolean" },
        scrapeNativeHistograms: { type: "boolean" },
        scrapeProtocols: { type: "array", items: { type: "string", enum: SCRAPE_PROTOCOLS } },
        scrapeTimeout: { type: "string", pattern: DURATION },
        targetLimit: LIMIT,
        targets: {
          type: "object",
          properties: {
            ingress: OBJECT,
            staticConfig: {
              type: "object",
              properties: {
                labels: STRING_MAP,
                relabelingConfigs: { type: "array", items: OBJECT },
                static: { type: "array", items: { type: "string" } },
              },
            },
          },
        },
        tlsConfig: OBJECT,
      },
    },
  },
};

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

/** What is wrong with `value` against `schema`, one line per fault, each naming its path. */
function validate(value: unknown, schema: Schema, path = ""): string[] {
  const at = path || "(top)";
  const got = typeOf(value);
  if (schema.type === "int-or-string") {
    if (got !== "integer" && got !== "string") return [`${at}: want an integer or a string, got ${got}`];
    return got === "string" && schema.pattern && !new RegExp(schema.pattern).test(value as string)
      ? [`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`]
      : [];
  }
  if (got !== schema.type) return [`${at}: want ${schema.type}, got ${got}`];
  switch (schema.type) {
    case "string": {
      const text = value as string;
      const faults: string[] = [];
      if (schema.minLength !== undefined && text.length < schema.minLength) {
        faults.push(`${at}: shorter than ${schema.minLength}`);
      }
      if (schema.pattern && !new RegExp(schema.pattern).test(text)) {
        faults.push(`${at}: ${JSON.stringify(text)} does not match ${schema.pattern}`);
      }
      if (schema.enum && !schema.enum.includes(text)) {
        faults.push(`${at}: ${JSON.stringify(text)} is not one of ${schema.enum.join(", ")}`);
      }
      return faults;
    }
    case "integer":
      return schema.minimum !== undefined && (value as number) < schema.minimum
        ? [`${at}: less than ${schema.minimum}`]
        : [];
    case "boolean":
      return [];
    case "array": {
      const items = value as unknown[];
      const faults = schema.minItems !== undefined && items.length < schema.minItems
        ? [`${at}: fewer than ${schema.minItems} items`]
        : [];
      if (!schema.items) return faults;
      return [...faults, ...items.flatMap((item, i) => validate(item, schema.items!, `${path}[${i}]`))];
    }
    case "object": {
      const fields = value as Record<string, unknown>;
      const faults = (schema.required ?? []).filter((name) => !(name in fields)).map((name) =>
        `${path ? `${path}.` : ""}${name}: missing (required)`
      );
      if (!schema.properties && !schema.additionalProperties) return faults;
      for (const [name, field] of Object.entries(fields)) {
        const sub = `${path ? `${path}.` : ""}${name}`;
        const fieldSchema = schema.properties?.[name] ?? schema.additionalProperties;
        if (!fieldSchema) faults.push(`${sub}: unknown field`);
        else faults.push(...validate(field, fieldSchema, sub));
      }
      return faults;
    }
  }
}

/**
 * The schema's faults, then what the operator and the CRD's descriptions add: a Probe of
 * monitoring.coreos.com/v1, a scrapeTimeout no longer than the interval (the operator rejects
 * the resource otherwise), and a prober url that is address:port, the scheme apart.
 */
function checkProbe(probe: unknown): string[] {
  const faults = validate(probe, PROBE);
  const { apiVersion, kind, spec } = probe as {
    apiVersion?: unknown;
    kind?: unknown;
    spec?: { interval?: unknown; scrapeTimeout?: unknown; prober?: { url?: unknown } };
  };
  if (apiVersion !== "monitoring.coreos.com/v1") {
    faults.push(`apiVersion: ${apiVersion}, want monitoring.coreos.com/v1`);
  }
  if (kind !== "Probe") faults.push(`kind: ${kind}, want Probe`);
  const { interval, scrapeTimeout } = spec ?? {};
  if (typeof interval === "string" && typeof scrapeTimeout === "string") {
    try {
      if (parseDuration(scrapeTimeout) > parseDuration(interval)) {
        faults.push(`spec.scrapeTimeout: ${scrapeTimeout} is longer than spec.interval ${interval}`);
      }
    } catch {
      // A duration the pattern refused is a fault already.
    }
  }
  const url = spec?.prober?.url;
  if (typeof url === "string" && url.includes("://")) {
    faults.push(
      `spec.prober.url: ${url} has a scheme; give address:port and the scheme in spec.prober.scheme`,
    );
  }
  return faults;
}

/** The example as the tests change it: loosely typed, so that a case can put a wrong type in. */
interface ProbeDocument {
  kind: unknown;
  spec: {
    interval: unknown;
    scrapeTimeout: unknown;
    module: unknown;
    params: unknown;
    prober: { url?: unknown; urls?: unknown; scheme: unknown };
    targets: { staticConfig: { static: unknown; targets?: unknown; labels: Record<string, unknown> } };
  };
}

async function example(): Promise<ProbeDocument> {
  return yaml.load(await Deno.readTextFile(EXAMPLE)) as ProbeDocument;
}

Deno.test("contrib/prometheus/probe.operator.yml is a Probe the CRD's schema accepts", async () => {
  const probe = await example();
  assert.deepEqual(checkProbe(probe), []);
  assert.deepEqual(
    Object.keys(probe.spec).sort(),
    ["interval", "jobName", "module", "params", "prober", "scrapeTimeout", "targets"],
  );
});

Deno.test("the Probe check refuses unknown fields, wrong types, a bad duration, and what the operator rejects", async () => {
  const cases: [string, (p: ProbeDocument) => void, string[]][] = [
    ["a misspelt field", (p) => p.spec.prober.urls = p.spec.prober.url, ["spec.prober.urls: unknown field"]],
    [
      "a field of the scrape config, not of the Probe",
      (p) => p.spec.targets.staticConfig.targets = ["x"],
      ["spec.targets.staticConfig.targets: unknown field"],
    ],
    [
      "the prober's url missing",
      (p) => delete p.spec.prober.url,
      ["spec.prober.url: missing (required)"],
    ],
    ["an interval as a number", (p) => p.spec.interval = 30, ["spec.interval: want string, got integer"]],
    [
      "an interval with a space",
      (p) => p.spec.interval = "30 s",
      [`spec.interval: "30 s" does not match ${DURATION}`],
    ],
    [
      "static targets as one string",
      (p) => p.spec.targets.staticConfig.static = "http://api-a.internal:8080/health",
      ["spec.targets.staticConfig.static: want array, got string"],
    ],
    [
      "a label value that is a number",
      (p) => p.spec.targets.staticConfig.labels.shard = 2,
      ["spec.targets.staticConfig.labels.shard: want string, got integer"],
    ],
    [
      "a parameter without values as a list",
      (p) => p.spec.params = [{ name: "expect", values: "ok" }],
      ["spec.params[0].values: want array, got string"],
    ],
    [
      "a scheme the CRD does not list",
      (p) => p.spec.prober.scheme = "tcp",
      [`spec.prober.scheme: "tcp" is not one of http, https, HTTP, HTTPS`],
    ],
    [
      "a module as a list",
      (p) => p.spec.module = ["json_probe"],
      ["spec.module: want string, got array"],
    ],
    [
      "a scrapeTimeout longer than the interval",
      (p) => p.spec.scrapeTimeout = "1m",
      ["spec.scrapeTimeout: 1m is longer than spec.interval 30s"],
    ],
    [
      "a prober url with its scheme",
      (p) => p.spec.prober.url = "http://dynamic-exporter.monitoring.svc:8000",
      [
        "spec.prober.url: http://dynamic-exporter.monitoring.svc:8000 has a scheme; give address:port and the scheme in spec.prober.scheme",
      ],
    ],
    ["a ServiceMonitor", (p) => p.kind = "ServiceMonitor", ["kind: ServiceMonitor, want Probe"]],
  ];
  for (const [name, change, want] of cases) {
    const probe = await example();
    change(probe);
    assert.deepEqual(checkProbe(probe), want, name);
  }
});

Deno.test("the Probe example probes with examples/json_probe.ts: targets it accepts, parameters it declares", async () => {
  const { targets, params } = await import("../examples/json_probe.ts");
  const { spec } = await example() as unknown as {
    spec: {
      module: string;
      prober: { path: string };
      params: { name: string; values: string[] }[];
      targets: { staticConfig: { static: string[] } };
    };
  };
  assert.equal(spec.module, "json_probe");
  assert.equal(spec.prober.path, "/probe");
  assert.deepEqual(spec.params.map((p) => p.name), params);
  // As the exporter checks it: the whole target must match.
  const whole = new RegExp(`^(?:${(targets as RegExp).source})$`);
  const listed = spec.targets.staticConfig.static;
  assert.equal(listed.length, 2);
  for (const target of listed) assert.ok(whole.test(target), target);
});
