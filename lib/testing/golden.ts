/**
 * A golden exposition compared with what a module served (issue 19), family by family after
 * sorting, as node_exporter's end-to-end test compares its whole output: label order and how
 * a number is written ("3" or "3.0") do not count, a sample or a family more or less does.
 */

/** One family of an exposition: its HELP and TYPE lines and its samples, each in a canonical form. */
interface Family {
  headers: string[];
  samples: string[];
}

/** `value` as one canonical number text: "3.0" and "3" are the same sample. */
function canonicalNumber(value: string): string {
  if (/^[+-]?inf$/i.test(value)) return value.startsWith("-") ? "-Inf" : "+Inf";
  if (/^nan$/i.test(value)) return "NaN";
  const n = Number(value);
  return Number.isNaN(n) ? value : String(n);
}

/** Splits `name{a="x",b="y"} value` into its name, its labels sorted, and its value; undefined when it is not a sample. */
export function parseSample(
  line: string,
): { name: string; labels: [string, string][]; value: string } | undefined {
  const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
  if (!name) return undefined;
  let at = name.length;
  const labels: [string, string][] = [];
  if (line[at] === "{") {
    at++;
    for (;;) {
      while (line[at] === " " || line[at] === ",") at++;
      if (line[at] === "}") {
        at++;
        break;
      }
      const label = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(at))?.[0];
      if (!label || line[at + label.length] !== "=" || line[at + label.length + 1] !== '"') return undefined;
      at += label.length + 2;
      let value = "";
      while (at < line.length && line[at] !== '"') {
        if (line[at] === "\\") {
          const next = line[at + 1];
          value += next === "n" ? "\n" : next;
          at += 2;
        } else value += line[at++];
      }
      if (line[at] !== '"') return undefined;
      at++;
      labels.push([label, value]);
    }
  }
  const [value] = line.slice(at).trim().split(/\s+/);
  if (value === undefined || value === "") return undefined;
  labels.sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0);
  return { name, labels, value: canonicalNumber(value) };
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function canonical(sample: NonNullable<ReturnType<typeof parseSample>>): string {
  const labels = sample.labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
  return `${sample.name}${labels ? `{${labels}}` : ""} ${sample.value}`;
}

const SUFFIXES = ["_bucket", "_sum", "_count", "_total", "_created", "_info"];

/** An exposition's families by name, each sorted; samples with no HELP or TYPE of their own form a family of their name. */
export function families(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  const family = (name: string) => {
    let f = out.get(name);
    if (!f) out.set(name, f = { headers: [], samples: [] });
    return f;
  };
  const lines = text.split("\n").map((l) => l.trim()).filter((l) => l !== "" && l !== "# EOF");
  for (const line of lines) {
    const header = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
    if (header) family(header[2]).headers.push(`# ${header[1]} ${header[2]} ${header[3] ?? ""}`.trimEnd());
  }
  for (const line of lines) {
    if (line.startsWith("#")) continue;
    const sample = parseSample(line);
    const name = sample?.name ?? line;
    const base = SUFFIXES.map((s) => name.endsWith(s) ? name.slice(0, -s.length) : undefined)
      .find((b) => b !== undefined && out.has(b) && !out.has(name));
    family(base ?? name).samples.push(sample ? canonical(sample) : line);
  }
  for (const f of out.values()) {
    f.headers.sort();
    f.samples.sort();
  }
  return new Map([...out].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0));
}

/**
 * What differs between the golden `expected` and the `actual` exposition, as readable lines
 * (`- ` expected only, `+ ` served only), family by family; empty when they are the same.
 */
export function diffExpositions(expected: string, actual: string): string[] {
  const want = families(expected);
  const got = families(actual);
  const out: string[] = [];
  for (const name of [...new Set([...want.keys(), ...got.keys()])].sort()) {
    const w = want.get(name);
    const g = got.get(name);
    if (!g) {
      out.push(
        `family ${name}: in the golden file, not served`,
        ...[...w!.headers, ...w!.samples].map((l) => `- ${l}`),
      );
      continue;
    }
    if (!w) {
      out.push(
        `family ${name}: served, not in the golden file`,
        ...[...g.headers, ...g.samples].map((l) => `+ ${l}`),
      );
      continue;
    }
    const wLines = [...w.headers, ...w.samples];
    const gLines = [...g.headers, ...g.samples];
    const missing = wLines.filter((l) => !gLines.includes(l));
    const extra = gLines.filter((l) => !wLines.includes(l));
    if (missing.length === 0 && extra.length === 0) continue;
    out.push(`family ${name}:`, ...missing.map((l) => `- ${l}`), ...extra.map((l) => `+ ${l}`));
  }
  return out;
}
