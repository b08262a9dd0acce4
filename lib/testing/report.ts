/**
 * test-module's results as people and CI read them (issue 19): plain text for a terminal, TAP
 * (version 13, with YAML diagnostics) and JUnit XML, which CI systems take as test reports.
 */

/** One test case: one run of one scenario of one module, or a module that could not be tested at all. */
export interface CaseResult {
  /** The module's name. */
  module: string;
  /** "<scenario> run <n>", or what was tried ("record", "fixtures"). */
  name: string;
  ok: boolean;
  /** Why it failed: readable lines (a diff, the run's error, a check's message). */
  details: string[];
  /** Seconds the case took. */
  seconds: number;
  /** Notes that are no failure ("no golden file: only promtool checked it"). */
  notes?: string[];
}

export type ReportFormat = "text" | "tap" | "junit";
export const REPORT_FORMATS: readonly ReportFormat[] = ["text", "tap", "junit"];

export function formatReport(cases: CaseResult[], format: ReportFormat): string {
  if (format === "tap") return tap(cases);
  if (format === "junit") return junit(cases);
  return text(cases);
}

/** Details as lines: a message of several lines (node:assert's) split, its blank lines left out. */
function detailLines(details: string[]): string[] {
  return details.flatMap((d) => d.split(/\r\n|\r|\n/)).filter((line) => line.trim() !== "");
}

/**
 * YAML (TAP's diagnostics) has no place for control characters, and a TAP consumer stops at
 * them: a module's log line or a check's message may hold any (an ANSI colour, a NUL).
 */
function printable(text: string): string {
  // deno-lint-ignore no-control-regex
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u0084\u0086-\u009f]/g, "\ufffd");
}

function text(cases: CaseResult[]): string {
  const lines: string[] = [];
  for (const c of cases) {
    lines.push(`${c.ok ? "ok  " : "FAIL"} ${c.module}: ${c.name} (${(c.seconds * 1000).toFixed(0)}ms)`);
    for (const note of c.notes ?? []) lines.push(`       note: ${note}`);
    for (const detail of detailLines(c.details)) lines.push(`       ${detail}`);
  }
  const failed = cases.filter((c) => !c.ok).length;
  lines.push(
    failed === 0 ? `ok: ${cases.length} passed` : `FAILED: ${failed} of ${cases.length} failed`,
  );
  return lines.join("\n") + "\n";
}

/** A TAP description may hold no "#" (a directive) and no newline. */
function tapName(c: CaseResult): string {
  return printable(`${c.module}: ${c.name}`.replace(/#/g, "\\#").replace(/[\r\n]/g, " "));
}

function tap(cases: CaseResult[]): string {
  const lines = ["TAP version 13", `1..${cases.length}`];
  cases.forEach((c, i) => {
    lines.push(`${c.ok ? "ok" : "not ok"} ${i + 1} - ${tapName(c)}`);
    const diagnostics = detailLines([...c.details, ...(c.notes ?? []).map((n) => `note: ${n}`)]);
    if (diagnostics.length > 0) {
      lines.push("  ---", "  message: |", ...diagnostics.map((d) => `    ${printable(d)}`), "  ...");
    }
  });
  return lines.join("\n") + "\n";
}

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
    // XML 1.0 has no place for most control characters, even escaped.
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "\ufffd");
}

function junit(cases: CaseResult[]): string {
  const byModule = Map.groupBy(cases, (c) => c.module);
  const failures = cases.filter((c) => !c.ok).length;
  const seconds = (list: CaseResult[]) => list.reduce((sum, c) => sum + c.seconds, 0).toFixed(3);
  const out = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="test-module" tests="${cases.length}" failures="${failures}" time="${seconds(cases)}">`,
  ];
  for (const [module, list] of byModule) {
    out.push(
      `  <testsuite name="${xml(module)}" tests="${list.length}" failures="${
        list.filter((c) => !c.ok).length
      }" time="${seconds(list)}">`,
    );
    for (const c of list) {
      const open = `    <testcase classname="${xml(module)}" name="${xml(c.name)}" time="${
        c.seconds.toFixed(3)
      }"`;
      if (c.ok) {
        out.push(`${open}/>`);
        continue;
      }
      out.push(
        `${open}>`,
        `      <failure message="${xml(detailLines(c.details)[0] ?? "failed")}">${
          xml(detailLines(c.details).join("\n"))
        }</failure>`,
        `    </testcase>`,
      );
    }
    out.push(`  </testsuite>`);
  }
  out.push(`</testsuites>`);
  return out.join("\n") + "\n";
}
