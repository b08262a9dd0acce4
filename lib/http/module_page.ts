/**
 * A module's own page (issue 19, "see what a run did"): what it serves now, with the values, and
 * its last runs with their log lines, its error, its host and its maxAge. Server-rendered HTML with
 * the status page's style sheet, no scripts, as the landing page.
 */

import { formatDuration } from "../duration.ts";
import type { Served } from "../exposition/exposition.ts";
import {
  formatSample,
  type MetricFamily,
  sampleChecker,
  validateFamilyHeader,
} from "../exposition/format.ts";
import type { RunRecord } from "../run_history.ts";
import type { ModuleStatus } from "../status.ts";
import { CSS, details, escapeHtml, inTime, moduleState, recentRuns, seconds, time } from "./landing.ts";

/** Series shown at most: a module may serve 2M samples; the page stays a few hundred KB. */
export const MAX_SHOWN_SERIES = 200;
/** Characters shown of a series (its name and labels): a label value may be a whole document. */
export const MAX_SERIES_CHARS = 1000;

export interface ModulePageOptions {
  /** Where the exposition is served; the header links it. */
  telemetryPath: string;
  /** The exporter's version, shown in the header. */
  version: string;
  /** What the module serves now (Exposition.served); undefined: nothing. */
  served?: Served;
  /** Its last runs, newest first. Default: none. */
  runs?: readonly RunRecord[];
  /** The instant relative times count from, in ms since the epoch. Default: `Date.now()`. */
  now?: number;
}

const MODULE_CSS = `
.badge{--c:var(--pending);display:inline-block;vertical-align:middle;margin-left:.5rem;padding:.1rem .8rem;
border-radius:999px;background:var(--c);color:#fff;font-size:.85rem;font-weight:600}
.badge.up{--c:var(--up)}.badge.down,.badge.stuck,.badge.quarantined,.badge.expired{--c:var(--down)}
.badge.failed{--c:var(--failed)}.badge.stale,.badge.previous{--c:var(--stale)}
section{margin:0 0 1.5rem}
h2{font-size:1.05rem;margin:1.5rem 0 .5rem}
dl.facts{grid-template-columns:max-content minmax(0,1fr);gap:.3rem 1rem;font-size:.9rem;background:var(--card);
border:1px solid var(--line);border-radius:8px;padding:.7rem 1rem;margin:0 0 1rem}
dl.facts>div{display:contents}dl.facts dd{overflow-wrap:anywhere}
.family{margin:0 0 .9rem}
.family h3{font-size:.95rem;margin:0;overflow-wrap:anywhere}.family h3 small{font-weight:400;color:var(--muted)}
.family .help{margin:0 0 .3rem;color:var(--muted);font-size:.85rem;overflow-wrap:anywhere}
ol.series{list-style:none;margin:0;padding:0;background:var(--card);border:1px solid var(--line);border-radius:6px}
ol.series li{display:grid;grid-template-columns:minmax(0,1fr) max-content;gap:1rem;padding:.2rem .7rem;
border-top:1px solid var(--line)}
ol.series li:first-child{border-top:0}
ol.series code{overflow-wrap:anywhere}
ol.series .v{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;text-align:right;
font-variant-numeric:tabular-nums}
`;

/** The module's host, as the facts show it. */
function host(m: ModuleStatus): string {
  if (!m.host) return `<span class="none">not loaded</span>`;
  const where = m.host.placement === "shared"
    ? "the shared host"
    : m.host.placement === "sandboxed"
    ? "a host of its own, sandboxed"
    : "a host of its own (on probation after a host died with it)";
  return `${where}; permissions <code>${escapeHtml(m.host.permissions)}</code>${
    m.host.restarts > 0 ? `; ${m.host.restarts} restarts` : ""
  }`;
}

/** The module's maxAge and where its values stand against it. */
function maxAge(m: ModuleStatus, now: number): string {
  if (!m.maxAgeMs) return "off: the last good values serve until the next success";
  const age = escapeHtml(formatDuration(m.maxAgeMs));
  if (m.expired) return `${age}: past it, so none of its series are served until its next success`;
  if (m.lastSuccessAt === undefined) return age;
  return `${age}: without a success, its values stop being served ${
    inTime(m.lastSuccessAt + m.maxAgeMs, now)
  }`;
}

function counts(m: ModuleStatus): string {
  const { success, failure } = m.reloads;
  const n = (count: number, word: string) => `${count} ${word}${count === 1 ? "" : "s"}`;
  return `${n(m.errors.error, "error")}, ${n(m.errors.timeout, "timeout")}, ${n(m.overruns, "overrun")}, ${
    n(success + failure, "load")
  }${failure > 0 ? ` (${failure} failed)` : ""}`;
}

function facts(m: ModuleStatus, now: number): string {
  const fact = (term: string, value: string) => `<div><dt>${term}</dt><dd>${value}</dd></div>`;
  const never = `<span class="none">never</span>`;
  const interval = m.probeOnly
    ? "probes only (it answers <code>/probe</code>, and serves nothing of its own)"
    : m.intervalMs === undefined
    ? `<span class="none">—</span>`
    : m.intervalMs === 0
    ? "at scrape time"
    : escapeHtml(formatDuration(m.intervalMs));
  return `<dl class="facts">${fact("File", `<code>${escapeHtml(m.file)}</code>`)}${fact("Host", host(m))}${
    fact("Interval", interval)
  }${
    fact(
      "Timeout",
      m.timeoutMs === undefined ? `<span class="none">—</span>` : escapeHtml(formatDuration(m.timeoutMs)),
    )
  }${fact("maxAge", maxAge(m, now))}${
    fact(
      "Last run",
      m.lastRunAt === undefined
        ? never
        : `${time(m.lastRunAt, now)}${
          m.lastDurationSeconds === undefined ? "" : `, took ${seconds(m.lastDurationSeconds)}`
        }`,
    )
  }${fact("Last success", m.lastSuccessAt === undefined ? never : time(m.lastSuccessAt, now))}${
    m.nextRunAt === undefined ? "" : fact(m.retrying ? "Retry" : "Next run", inTime(m.nextRunAt, now))
  }${fact("Counts", counts(m))}</dl>`;
}

/** Why nothing of the module is served. */
function nothingServed(m: ModuleStatus): string {
  if (!m.loaded) return "None: its file has not loaded.";
  if (m.expired) return "None: its last success is older than its maxAge.";
  if (m.probeOnly) return "None: a probe module serves only its answers to <code>/probe</code>.";
  if (m.lastSuccessAt === undefined) return "None yet: its series are served after its first successful run.";
  return "None.";
}

/** One family's heading and series, at most `room` of them; how many it showed. */
function family(f: MetricFamily, room: number): { html: string; shown: number; problem?: string } {
  const problem = validateFamilyHeader(f) ?? (() => {
    const check = sampleChecker(f);
    for (const sample of f.values) {
      const found = check(sample, sample?.value);
      if (found !== undefined) return found;
    }
    return undefined;
  })();
  // As the exposition does: a family that would make the body invalid is left out of it whole.
  if (problem !== undefined) return { html: "", shown: 0, problem };
  const items: string[] = [];
  for (const sample of f.values.slice(0, room)) {
    const line = formatSample(f, sample, sample.value, "text").slice(0, -1);
    const cut = line.lastIndexOf(" ");
    let series = line.slice(0, cut);
    if (series.length > MAX_SERIES_CHARS) series = `${series.slice(0, MAX_SERIES_CHARS - 1)}…`;
    items.push(
      `<li><code>${escapeHtml(series)}</code><span class="v">${escapeHtml(line.slice(cut + 1))}</span></li>`,
    );
  }
  const heading = `<h3><code>${escapeHtml(f.name)}</code> <small>${
    escapeHtml(f.type)
  }, ${f.values.length} series</small></h3>`;
  const help = f.help ? `<p class="help">${escapeHtml(f.help)}</p>` : "";
  const list = items.length > 0 ? `<ol class="series">${items.join("")}</ol>` : "";
  return { html: `<div class="family">${heading}${help}${list}</div>`, shown: items.length };
}

/** The "Served series" section: what the telemetry path serves of this module now. */
function servedSection(m: ModuleStatus, served: Served | undefined, telemetry: string): string {
  const head = `<section id="series">\n<h2>Served series</h2>\n`;
  if (served === undefined) return `${head}<p class="none">${nothingServed(m)}</p>\n</section>\n`;
  if (served.families === undefined) {
    return `${head}<p class="none">Its values are computed at scrape time (<code>collect()</code>); no scrape has ` +
      `read them yet.</p>\n</section>\n`;
  }
  let total = 0;
  let shown = 0;
  const parts: string[] = [];
  const leftOut: string[] = [];
  for (const f of served.families) {
    const one = family(f, MAX_SHOWN_SERIES - shown);
    if (one.problem !== undefined) {
      leftOut.push(one.problem);
      continue;
    }
    total += f.values.length;
    shown += one.shown;
    // Past the bound a family still counts, but its heading is not shown with no series under it.
    if (one.shown > 0 || f.values.length === 0) parts.push(one.html);
  }
  const intro = `<p class="when">${total} series${
    served.atScrape ? ", computed at scrape time (<code>collect()</code>): as the last scrape read them" : ""
  }. The values as <a href="${escapeHtml(telemetry)}">${escapeHtml(telemetry)}</a> serves them.</p>\n`;
  const more = total > shown
    ? `<p class="note">${total - shown} more series not shown (the first ${shown} are); ` +
      `<a href="${escapeHtml(telemetry)}">${escapeHtml(telemetry)}</a> serves them all.</p>\n`
    : "";
  const problems = leftOut.map((p) => `<p class="note">Left out of the exposition: ${escapeHtml(p)}</p>\n`)
    .join("");
  return `${head}${intro}${parts.join("\n")}\n${more}${problems}</section>\n`;
}

/** The "Last runs" section, unfolded. */
function runsSection(runs: readonly RunRecord[], now: number): string {
  const head = `<section id="runs">\n<h2>Last runs</h2>\n`;
  if (runs.length === 0) return `${head}<p class="none">No run yet.</p>\n</section>\n`;
  return `${head}${recentRuns(runs, now, true)}\n</section>\n`;
}

/** Module `m`'s own page. */
export function modulePage(m: ModuleStatus, options: ModulePageOptions): string {
  const now = options.now ?? Date.now();
  const iso = new Date(now).toISOString();
  const { state, label } = moduleState(m);
  const name = escapeHtml(m.name);
  const path = escapeHtml(options.telemetryPath);
  const notes = details(m, state, now);
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${name} · ${label} · dynamic_exporter</title>
<style>${CSS}${MODULE_CSS}</style>
</head>
<body>
<header>
<h1>${name}<span class="badge ${state}">${label}</span> <small>a module of dynamic_exporter ${
    escapeHtml(options.version)
  }</small></h1>
<nav aria-label="Endpoints"><a href="./">All modules</a> <span class="cta"><a href="${path}">${path}</a></span></nav>
</header>
<main>
${facts(m, now)}
${notes ? `<section class="error">${notes}</section>\n` : ""}${runsSection(options.runs ?? [], now)}${
    servedSection(m, options.served, options.telemetryPath)
  }</main>
<footer>Rendered <time datetime="${iso}">${iso}</time>. The values are those the exporter holds for serving: this page runs nothing.</footer>
</body>
</html>
`;
}
