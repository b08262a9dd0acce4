/**
 * Renders metric families in the Prometheus text format 0.0.4 and in
 * OpenMetrics 1.0.0.
 *
 * We own the formatter instead of using prom-client's because prom-client
 * prints NaN as "Nan", and its OpenMetrics switch renames counters on the
 * global registry, which leaks across every scrape.
 *
 * @module
 */

/** An exposition format this exporter can serve. */
export type Format = "text" | "openmetrics";

/** The Content-Type header value that goes with each {@linkcode Format}. */
export const CONTENT_TYPES: Readonly<Record<Format, string>> = {
  text: "text/plain; version=0.0.4; charset=utf-8",
  openmetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8",
};

/** The terminator an OpenMetrics body must end with, exactly once. */
export const OPENMETRICS_EOF = "# EOF\n";

/** One sample of a family, as prom-client 15's `metric.get()` returns it. */
export interface Sample {
  /** Sample name, e.g. `x_bucket`; defaults to the family name. */
  metricName?: string;
  /** Label names to values; numbers are rendered like sample values. */
  labels?: Record<string, string | number>;
  /** The sample value. */
  value: number;
}

/** The metric types of the Prometheus data model. */
export type MetricType =
  | "counter"
  | "gauge"
  | "histogram"
  | "summary"
  | "untyped";

/** A metric family, as prom-client 15's `metric.get()` returns it. */
export interface MetricFamily {
  /** Family name; prom-client counters usually end in `_total`. */
  name: string;
  /** Help text, unescaped. */
  help: string;
  /** Metric type. */
  type: MetricType;
  /** Samples in output order. */
  values: Sample[];
}

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TOTAL_SUFFIX = "_total";

/**
 * Checks a metric name against the Prometheus data model.
 *
 * @param name The metric name to check.
 * @returns A description of the problem, or `undefined` when the name is valid.
 *
 * @example Usage
 * ```ts
 * import { validateMetricName } from "./format.ts";
 * validateMetricName("1abc"); // 'metric name "1abc" must match [a-zA-Z_:][a-zA-Z0-9_:]*'
 * ```
 */
export function validateMetricName(name: string): string | undefined {
  if (typeof name !== "string" || !METRIC_NAME_RE.test(name)) {
    return `metric name ${JSON.stringify(name)} must match ${METRIC_NAME_RE.source.slice(1, -1)}`;
  }
  return undefined;
}

/**
 * Checks a label name against the Prometheus data model.
 *
 * @param name The label name to check.
 * @returns A description of the problem, or `undefined` when the name is valid.
 *
 * @example Usage
 * ```ts
 * import { validateLabelName } from "./format.ts";
 * validateLabelName("__name__"); // 'label name "__name__" must not start with "__" ...'
 * ```
 */
export function validateLabelName(name: string): string | undefined {
  if (typeof name !== "string" || !LABEL_NAME_RE.test(name)) {
    return `label name ${JSON.stringify(name)} must match ${LABEL_NAME_RE.source.slice(1, -1)}`;
  }
  if (name.startsWith("__")) {
    return `label name ${JSON.stringify(name)} must not start with "__" (reserved for internal use)`;
  }
  return undefined;
}

/** Every {@linkcode MetricType}, for checking a family built by hand. */
export const METRIC_TYPES: readonly MetricType[] = ["counter", "gauge", "histogram", "summary", "untyped"];

/** The sample names a family of each type may carry (as format renders them), given its name. */
function sampleNames(name: string, type: MetricType): string[] {
  switch (type) {
    case "counter":
      // A `_created` sample keeps its name in both formats (see formatFamily).
      return [name, stripTotal(name) + TOTAL_SUFFIX, stripTotal(name) + "_created"];
    case "histogram":
      return [`${name}_bucket`, `${name}_sum`, `${name}_count`];
    case "summary":
      return [name, `${name}_sum`, `${name}_count`];
    default:
      return [name];
  }
}

/**
 * Every name a family serves, in the text format or in OpenMetrics: its family names and its
 * sample names. Two families that share one of these make an invalid exposition (issue 8 item 9:
 * a Counter `x` serves `x_total`; a Histogram `x` serves `x_bucket`). With no type, the names a
 * family of any type could serve.
 *
 * @param name The family name.
 * @param type The family's type, if known.
 * @returns The names, without duplicates.
 *
 * @example Usage
 * ```ts
 * import { servedNames } from "./format.ts";
 * servedNames("c", "counter"); // ["c", "c_total", "c_created"]
 * ```
 */
export function servedNames(name: string, type: MetricType | undefined): string[] {
  const types = type !== undefined && METRIC_TYPES.includes(type) ? [type] : METRIC_TYPES;
  const names = new Set<string>([name]);
  for (const t of types) {
    if (t === "counter") names.add(stripTotal(name));
    for (const sample of sampleNames(name, t)) names.add(sample);
  }
  return [...names];
}

/**
 * Checks that a family renders as a valid exposition in both formats: valid metric and label
 * names, no `__` label, a known type, sample names that belong to the family, numeric values.
 * prom-client checks most of this for its own metrics, but not for a `__` label nor for a
 * family a metric object builds by hand.
 *
 * @param family The family as a metric's `get()` returned it.
 * @returns A description of the first problem, or `undefined` when the family is valid.
 *
 * @example Usage
 * ```ts
 * import { validateFamily } from "./format.ts";
 * validateFamily({ name: "x", help: "h", type: "gauge", values: [{ labels: { __name__: "y" }, value: 1 }] });
 * // 'metric "x": label name "__name__" must not start with "__" (reserved for internal use)'
 * ```
 */
export function validateFamily(family: MetricFamily): string | undefined {
  const problem = validateFamilyHeader(family);
  if (problem !== undefined) return problem;
  const check = sampleChecker(family);
  for (const sample of family.values) {
    const sampleProblem = check(sample, sample?.value);
    if (sampleProblem !== undefined) return sampleProblem;
  }
  return undefined;
}

/**
 * The part of {@linkcode validateFamily} that does not look at the samples: name, type, and a
 * list of values. For a renderer that checks the samples as it goes (see sampleChecker).
 *
 * @param family The family as a metric's `get()` returned it.
 * @returns A description of the problem, or `undefined` when the family's header is valid.
 */
export function validateFamilyHeader(family: MetricFamily): string | undefined {
  const name = family?.name;
  if (typeof name !== "string") return `a metric family has no name`;
  const problem = validateMetricName(name);
  if (problem !== undefined) return problem;
  if (!METRIC_TYPES.includes(family.type)) {
    return `metric "${name}" has type ${JSON.stringify(family.type)}, not one of ${METRIC_TYPES.join(", ")}`;
  }
  if (!Array.isArray(family.values)) return `metric "${name}" has no list of values`;
  return undefined;
}

/**
 * The per-sample part of {@linkcode validateFamily}, for a family whose header is valid:
 * a function of one sample and its value (which may be a snapshot taken earlier).
 *
 * @param family A family that passed {@linkcode validateFamilyHeader}.
 * @returns A check that gives the sample's problem, or `undefined` when it renders validly.
 */
export function sampleChecker(family: MetricFamily): (sample: Sample, value: unknown) => string | undefined {
  const { name, type } = family;
  const allowed = sampleNames(name, type);
  // Series repeat their label names: check each name once.
  const checked = new Set<string>();
  return (sample, value) => {
    const sampleName = sample?.metricName ?? name;
    if (!allowed.includes(sampleName)) {
      return `metric "${name}" (${type}) has a sample named ${JSON.stringify(sampleName)}`;
    }
    if (typeof value !== "number") {
      return `metric "${name}" has a sample whose value is a ${typeof value}, not a number`;
    }
    for (const label in sample.labels ?? {}) {
      if (checked.has(label)) continue;
      const labelProblem = validateLabelName(label);
      if (labelProblem !== undefined) return `metric "${name}": ${labelProblem}`;
      checked.add(label);
    }
    return undefined;
  };
}

/**
 * Renders one family: HELP, TYPE, then one line per sample, every line ending
 * in "\n". It does not validate names and never appends
 * {@linkcode OPENMETRICS_EOF}.
 *
 * In OpenMetrics a counter family loses a trailing `_total` and its samples
 * are named `<family>_total`; `untyped` becomes `unknown`.
 *
 * @param family The family to render.
 * @param format The exposition format.
 * @returns The exposition text of the family.
 *
 * @example Usage
 * ```ts
 * import { formatFamily } from "./format.ts";
 * formatFamily(
 *   { name: "up", help: "Up.", type: "gauge", values: [{ value: 1 }] },
 *   "text",
 * ); // "# HELP up Up.\n# TYPE up gauge\nup 1\n"
 * ```
 */
export function formatFamily(family: MetricFamily, format: Format): string {
  let out = formatHeader(family, format);
  for (const sample of family.values) out += formatSample(family, sample, sample.value, format);
  return out;
}

/**
 * The HELP and TYPE lines of a family, as {@linkcode formatFamily} starts it.
 *
 * @param family The family to render.
 * @param format The exposition format.
 * @returns Two lines, each ending in "\n".
 */
export function formatHeader(family: MetricFamily, format: Format): string {
  const openMetrics = format === "openmetrics";
  const name = openMetrics && family.type === "counter" ? stripTotal(family.name) : family.name;
  const type = openMetrics && family.type === "untyped" ? "unknown" : family.type;
  const help = openMetrics ? escapeQuoted(family.help) : escapeTextHelp(family.help);
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
}

/**
 * One sample line of a family, as {@linkcode formatFamily} renders it, with `value` in place
 * of the sample's own (a snapshot taken before rendering in slices).
 *
 * @param family The sample's family.
 * @param sample The sample: its name and labels.
 * @param value The value to print.
 * @param format The exposition format.
 * @returns One line ending in "\n".
 */
export function formatSample(family: MetricFamily, sample: Sample, value: number, format: Format): string {
  let sampleName = sample.metricName ?? family.name;
  // Only the counter's own samples are renamed; a differently named sample (such as a
  // `_created` one) keeps its name.
  if (format === "openmetrics" && family.type === "counter" && sampleName === family.name) {
    sampleName = stripTotal(family.name) + TOTAL_SUFFIX;
  }
  return `${sampleName}${formatLabels(sample.labels)} ${formatNumber(value)}\n`;
}

/**
 * Renders families one after another, without {@linkcode OPENMETRICS_EOF}.
 *
 * @param families The families to render, in output order.
 * @param format The exposition format.
 * @returns The concatenated exposition text.
 *
 * @example Usage
 * ```ts
 * import { formatFamilies, OPENMETRICS_EOF } from "./format.ts";
 * const body = formatFamilies([], "openmetrics") + OPENMETRICS_EOF; // "# EOF\n"
 * ```
 */
export function formatFamilies(
  families: Iterable<MetricFamily>,
  format: Format,
): string {
  let out = "";
  for (const family of families) out += formatFamily(family, format);
  return out;
}

function stripTotal(name: string): string {
  return name.endsWith(TOTAL_SUFFIX) && name.length > TOTAL_SUFFIX.length
    ? name.slice(0, -TOTAL_SUFFIX.length)
    : name;
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Infinity) return "+Inf";
  if (n === -Infinity) return "-Inf";
  return String(n);
}

function formatLabels(
  labels: Record<string, string | number> | undefined,
): string {
  if (labels === undefined) return "";
  let out = "";
  for (const name in labels) {
    const value = labels[name];
    const text = typeof value === "number" ? formatNumber(value) : escapeQuoted(String(value));
    out += `${out === "" ? "{" : ","}${name}="${text}"`;
  }
  return out === "" ? "" : out + "}";
}

// Most label values and help texts need no escaping: test once before three replaces.
const NEEDS_ESCAPE = /[\\\n"]/;

function escapeTextHelp(help: string): string {
  if (!NEEDS_ESCAPE.test(help)) return help;
  return help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n");
}

function escapeQuoted(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return escapeTextHelp(value).replaceAll('"', '\\"');
}
