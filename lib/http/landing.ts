/**
 * The landing page: a status page a person reads at a glance. Plain HTML and inline CSS, no
 * scripts or external assets, so it works from the single binary, offline, behind any proxy.
 */

import { formatDuration } from "../duration.ts";
import type { IgnoredFile } from "../modules/scan.ts";
import { redactSecrets } from "../redact.ts";
import type { ModuleStatus } from "../status.ts";
import type { RunRecord } from "../run_history.ts";
import type { RecentProbe } from "../prober.ts";
import { MAX_ABANDONED, STUCK_HINT } from "../schedule/scheduler.ts";

export interface LandingOptions {
  /** Where the exposition is served; the header links it. */
  telemetryPath: string;
  /** The exporter's version, shown in the header. */
  version: string;
  /** `--collect.interval`, named in the footer. */
  defaultIntervalMs: number;
  /** The instant relative times ("3 s ago") count from, in ms since the epoch. Default: `Date.now()`. */
  now?: number;
  /** Files in the metrics dir that are not modules, with the reason. Default: none. */
  ignoredFiles?: IgnoredFile[];
  /** The last probes of probe modules (issue 20), newest first. Default: none. */
  probes?: RecentProbe[];
  /** The page reloads itself this often (`/?refresh=10`). Default: never. */
  refreshSeconds?: number;
  /** A module's last runs, newest first, shown folded in its detail row. Default: none. */
  runs?(module: string): readonly RunRecord[];
}

/** A module's state as the status pages show it. */
export type State =
  | "failed"
  | "stale"
  | "quarantined"
  | "stuck"
  | "expired"
  | "down"
  | "previous"
  | "pending"
  | "up";

// Broken first: a person opens this page to find what is broken.
const STATES: readonly State[] = [
  "failed",
  "stale",
  "quarantined",
  "stuck",
  "expired",
  "down",
  "previous",
  "pending",
  "up",
];

const LABEL: Readonly<Record<State, string>> = {
  failed: "failed",
  stale: "reload failed",
  quarantined: "quarantined",
  stuck: "stuck",
  // "stale" as an operator says it: values past the module's maxAge (the "stale" state above is a reload that failed).
  expired: "stale",
  down: "down",
  previous: "serving previous",
  pending: "not run yet",
  up: "up",
};

/** A module's metric list longer than this is collapsed, so that a row stays one line high. */
const MAX_LISTED_METRICS = 3;

const NOTE: Readonly<Partial<Record<State, string>>> = {
  failed: "Nothing from this module is served until the file loads.",
  stale: "The previous version of this module keeps serving.",
  quarantined:
    "Its runs or its import ended its host process too often (a loop, an out-of-memory, an exit): it is " +
    "not run again until its file or a helper it imports changes. Its last values stay served.",
  stuck:
    `Runs are skipped while ${MAX_ABANDONED} calls abandoned at their timeout are still running: ${STUCK_HINT}.`,
};

// The e2e tests pin the first two cells of a row as `<td><a href="module?name=…">name</a></td><td>state</td>`,
// so the CSS finds the cells by position.
const COLUMNS = ["Module", "State", "Last run", "Duration", "Interval", "Timeout", "Metrics", "Counts"];

/** The module's state and its label, as its row and its own page show them. */
export function moduleState(m: ModuleStatus): { state: State; label: string } {
  const state = stateOf(m);
  return { state, label: LABEL[state] };
}

function stateOf(m: ModuleStatus): State {
  if (!m.loaded) return "failed";
  if (!m.lastLoadSuccessful) return "stale";
  if (m.quarantined) return "quarantined";
  if (m.stuck) return "stuck";
  if (m.expired) return "expired";
  // A changed file loaded but has not succeeded yet: what is served is the previous version's.
  if (m.servingPrevious && !m.up) return "previous";
  if (m.probeOnly) return m.up ? "up" : "down";
  if (m.lastRunAt === undefined) return "pending";
  return m.up ? "up" : "down";
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function ago(at: number, now: number): string {
  const s = Math.floor((now - at) / 1000);
  if (s < 1) return "just now";
  if (s < 120) return `${s} s ago`;
  if (s < 7200) return `${Math.floor(s / 60)} min ago`;
  if (s < 172800) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A `<time>` saying how long ago `at` was, its ISO instant in its title. */
export function time(at: number, now: number): string {
  const iso = new Date(at).toISOString();
  return `<time datetime="${iso}" title="${iso}">${ago(at, now)}</time>`;
}

/** A duration to read at a glance: `12 ms`, `1.50 s`. */
export function seconds(s: number): string {
  if (s < 0.001) return `${Math.round(s * 1e6)} µs`;
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 1 : 0)} ms`;
  return `${s.toFixed(s < 10 ? 2 : 1)} s`;
}

const NONE = `<span class="none">—</span>`;

/** A `<time>` saying how soon `at` is, its ISO instant in its title. */
export function inTime(at: number, now: number): string {
  const iso = new Date(at).toISOString();
  const s = Math.ceil((at - now) / 1000);
  const text = s <= 0
    ? "now"
    : s < 120
    ? `in ${s} s`
    : s < 7200
    ? `in ${Math.round(s / 60)} min`
    : `in ${Math.round(s / 3600)} h`;
  return `<time datetime="${iso}" title="${iso}">${text}</time>`;
}

function lastRun(m: ModuleStatus, now: number): string {
  if (m.lastRunAt === undefined) return `<span class="none">never</span>`;
  let html = time(m.lastRunAt, now);
  if (!m.up) {
    html += `<small>last success ${
      m.lastSuccessAt === undefined ? "never" : time(m.lastSuccessAt, now)
    }</small>`;
  }
  if (m.retrying && m.nextRunAt !== undefined) html += `<small>retry ${inTime(m.nextRunAt, now)}</small>`;
  return html;
}

function interval(ms: number | undefined): string {
  if (ms === undefined) return NONE;
  return ms === 0 ? "at scrape time" : escapeHtml(formatDuration(ms));
}

/**
 * A name that may wrap only between words: after an underscore, or before the capital of a
 * camelCase hump (`zstack_<wbr>available<wbr>HostCount`), never inside a word (issue 11).
 */
function breakable(name: string): string {
  return escapeHtml(name).replaceAll("_", "_<wbr>").replace(/(?<=[a-z0-9])(?=[A-Z])/g, "<wbr>");
}

function metrics(names: string[]): string {
  if (names.length === 0) return `<span class="none">none</span>`;
  const list = names.map((name) => `<code>${breakable(name)}</code>`).join(" ");
  if (names.length <= MAX_LISTED_METRICS) return list;
  // Collapsed: twelve names would make the row taller than the screen and push the error below it.
  return `<details><summary>${names.length} metrics</summary>${list}</details>`;
}

function counts(m: ModuleStatus, now: number): string {
  // Coloured only while recent: since the last success (the module fails now), or within its
  // last interval. An error of last week on a module that is healthy now is history, not news.
  const recent = (at: number | undefined) =>
    at !== undefined && (at > (m.lastSuccessAt ?? 0) || now - at < (m.intervalMs ?? 0));
  const item = (label: string, n: number, bad: boolean, more = "") =>
    `<div${bad ? ' class="bad"' : ""}><dt>${label}</dt><dd>${n}${more}</dd></div>`;
  const { success, failure } = m.reloads;
  const at = m.lastCountedAt;
  const file = `<div><dt>file</dt><dd><code>${escapeHtml(m.file)}</code></dd></div>`;
  const host = m.host
    ? `<div title="permissions: ${escapeHtml(m.host.permissions)}"><dt>host</dt><dd>${
      m.host.placement === "shared" ? "shared" : m.host.placement === "sandboxed" ? "own, sandboxed" : "own"
    }${m.host.restarts > 0 ? `, ${m.host.restarts} restarts` : ""}</dd></div>`
    : "";
  return `<dl>${item("errors", m.errors.error, recent(at.error))}${
    item("timeouts", m.errors.timeout, recent(at.timeout))
  }${item("overruns", m.overruns, recent(at.overrun))}${
    item("loads", success + failure, !m.lastLoadSuccessful, failure > 0 ? `, ${failure} failed` : "")
  }${host}${file}</dl>`;
}

/** What went wrong, for a module with an error or a state that needs explaining; "" otherwise. */
export function details(m: ModuleStatus, state: State, now: number): string {
  let note = NOTE[state] ? `<p class="note">${escapeHtml(NOTE[state])}</p>` : "";
  if (state === "quarantined" && m.quarantined) note += `<p class="note">${escapeHtml(m.quarantined)}</p>`;
  if (state === "expired") {
    note +=
      `<p class="note">stale: last success ${
        m.lastSuccessAt === undefined ? "never" : time(m.lastSuccessAt, now)
      }, over its maxAge of ${escapeHtml(formatDuration(m.maxAgeMs ?? 0))}. None of its series are served ` +
      `until its next successful run.</p>`;
  }
  if (m.servingPrevious) {
    note += `<p class="note">The previous version's last values are served until this version's first ` +
      `successful run.</p>`;
  }
  const err = m.lastError;
  if (!err) return note;
  const where = `${err.file}${err.line ? `:${err.line}` : ""}`;
  // Stage, message and location in this order, on the row's line: the lifecycle e2e test
  // matches `run: message <code>file:line</code>` there.
  // Errors quote what failed, often a connection string with its password: mask it (issue 8).
  return `<p class="when">Last error, ${time(err.at, now)}</p><pre>${escapeHtml(err.stage)}: ${
    escapeHtml(redactSecrets(err.message))
  } <code>${escapeHtml(where)}</code></pre>${
    err.hint ? `<p class="hint"><strong>Hint:</strong> ${escapeHtml(err.hint)}</p>` : ""
  }${note}`;
}

/** Wall-clock time of day, UTC, to the millisecond: the log lines of one run are close together. */
function clock(at: number): string {
  return new Date(at).toISOString().slice(11, 23);
}

/** The module's last runs with their log lines, folded unless `open`; "" when it has none. */
export function recentRuns(runs: readonly RunRecord[], now: number, open = false): string {
  if (runs.length === 0) return "";
  const failed = runs.filter((r) => r.outcome !== "success").length;
  const items = runs.map((r) => {
    const lines = r.lines.map((l) => `${clock(l.at)} ${l.level} ${l.text}`);
    if (r.droppedLines > 0) lines.push(`(${r.droppedLines} more lines not kept)`);
    return `<li class="run-${r.outcome === "success" ? "ok" : "bad"}"><p>${time(r.startedAt, now)} ` +
      `<strong>${r.outcome}</strong> after ${seconds(r.durationSeconds)}</p>${
        r.error === undefined ? "" : `<pre>${escapeHtml(r.error)}</pre>`
      }${
        lines.length === 0
          ? `<p class="none">no log lines</p>`
          : `<pre class="log">${escapeHtml(lines.join("\n"))}</pre>`
      }</li>`;
  }).join("");
  return `<details class="runs"${open ? " open" : ""}><summary>Last ${runs.length} run${
    runs.length === 1 ? "" : "s"
  }${failed > 0 ? `, ${failed} failed` : ""}</summary><ol>${items}</ol></details>`;
}

function row(m: ModuleStatus, state: State, now: number, runs: readonly RunRecord[] = []): string {
  const cells = [
    `<a href="${escapeHtml(modulePath(m.name))}">${escapeHtml(m.name)}</a>`,
    LABEL[state],
    lastRun(m, now),
    m.lastDurationSeconds === undefined ? NONE : seconds(m.lastDurationSeconds),
    m.probeOnly ? "probes only" : interval(m.intervalMs),
    m.timeoutMs === undefined ? NONE : escapeHtml(formatDuration(m.timeoutMs)),
    metrics(m.metricNames),
    counts(m, now),
  ];
  const more = details(m, state, now) + recentRuns(runs, now);
  return `<tr class="${state}">${cells.map((cell) => `<td>${cell}</td>`).join("")}</tr>${
    more ? `<tr class="${state} detail"><td colspan="${COLUMNS.length}">${more}</td></tr>` : ""
  }\n`;
}

/** The "Ignored files" section, or "" when there are none. File names only: the page shows no paths. */
function ignoredSection(files: IgnoredFile[]): string {
  if (files.length === 0) return "";
  const items = files.map((f) => `<li><code>${escapeHtml(f.name)}</code>: ${escapeHtml(f.reason)}</li>`).join(
    "\n",
  );
  return `<section class="ignored">\n<h2>Ignored files</h2>\n<ul>\n${items}\n</ul>\n</section>\n`;
}

/** The "Recent probes" section, or "" when no probe ran. Targets and errors with credentials masked. */
function probesSection(probes: RecentProbe[], now: number): string {
  if (probes.length === 0) return "";
  const rows = probes.map((p) =>
    `<tr class="${p.success ? "up" : "failed"}"><td>${breakable(p.module)}</td>` +
    `<td><code>${escapeHtml(redactSecrets(p.target))}</code></td>` +
    `<td>${p.success ? "success" : "failure"}</td><td>${seconds(p.durationSeconds)}</td>` +
    `<td>${time(p.at, now)}</td><td>${
      p.error === undefined ? "" : escapeHtml(redactSecrets(p.error))
    }</td></tr>\n`
  ).join("");
  return `<section class="probes">\n<h2>Recent probes</h2>\n<table>\n<thead><tr>` +
    ["Module", "Target", "Result", "Duration", "When", "Error"].map((c) => `<th scope="col">${c}</th>`).join(
      "",
    ) +
    `</tr></thead>\n<tbody>\n${rows}</tbody>\n</table>\n</section>\n`;
}

function summary(total: number, byState: Record<State, number>): string {
  const part = (state: State) =>
    `<span class="s-${byState[state] > 0 ? state : "zero"}">${byState[state]} ${LABEL[state]}</span>`;
  // "0 up" only when nothing serves: a module serving its previous version still serves.
  const shown = STATES.filter((state) =>
    byState[state] > 0 || (state === "up" && total > 0 && byState.previous === 0)
  );
  const order: readonly State[] = [
    "up",
    "previous",
    "down",
    "expired",
    "failed",
    "stale",
    "stuck",
    "quarantined",
    "pending",
  ];
  const parts = order.filter((state) => shown.includes(state)).map(part);
  return `${total} module${total === 1 ? "" : "s"}${parts.length > 0 ? `: ${parts.join(", ")}` : ""}`;
}

/** The status pages' style sheet. */
export const CSS = `
:root{color-scheme:light dark;--bg:#f5f6f8;--fg:#1b1f24;--muted:#57606a;--card:#fff;--line:#d0d7de;
--link:#0550ae;--err-bg:#fff4f4;--err-line:#f3c1c1;--hint-bg:#fff8e1;--code-bg:#eef1f4;
--up:#1a7f37;--down:#cf222e;--failed:#a40e26;--stale:#8a4b00;--previous:#8a4b00;--pending:#57606a;
--up-text:#1a7f37;--down-text:#cf222e;--failed-text:#a40e26;--stale-text:#8a4b00}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9ba6b2;--card:#161b22;
--line:#30363d;--link:#6cb6ff;--err-bg:#2a1416;--err-line:#6e2b31;--hint-bg:#2b2410;--code-bg:#222a33;
--up-text:#3fb950;--down-text:#ff7b72;--failed-text:#ff8696;--stale-text:#d29922}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
a{color:var(--link)}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
header{background:var(--card);border-bottom:1px solid var(--line);padding:1rem 1.5rem;display:flex;
flex-wrap:wrap;align-items:center;gap:.75rem 1.5rem}
h1{margin:0;font-size:1.4rem;font-weight:650}
h1 small{font-size:.8rem;font-weight:500;color:var(--muted);margin-left:.4rem}
nav{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem 1rem;margin-left:auto}
nav .cta a{display:inline-block;padding:.45rem 1rem;border-radius:6px;background:var(--link);color:var(--card);
font-weight:600;text-decoration:none;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
nav .cta a:hover,nav .cta a:focus-visible{text-decoration:underline}
main{padding:1rem 1.5rem 2rem;max-width:100rem}
.summary{font-size:1.1rem;margin:.25rem 0 1rem}
.summary span{font-weight:600;white-space:nowrap}
.summary.bad{border-left:4px solid var(--down);padding-left:.6rem}
.s-up{color:var(--up-text)}.s-down{color:var(--down-text)}.s-failed{color:var(--failed-text)}
.s-stale,.s-previous{color:var(--stale-text)}.s-stuck,.s-quarantined,.s-expired{color:var(--down-text)}.s-zero{color:var(--muted)}
table{width:100%;border-collapse:separate;border-spacing:0;background:var(--card);border:1px solid var(--line);
border-radius:8px}
caption{text-align:left;font-weight:600;padding:0 0 .4rem}
th,td{text-align:left;vertical-align:top;padding:.55rem .7rem}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);border-bottom:1px solid var(--line)}
tbody tr:not(.detail)>td{border-top:1px solid var(--line)}
tbody tr:first-child>td{border-top:0}
tbody tr:not(.detail)>td:first-child{font-weight:600;overflow-wrap:break-word}
tbody tr:not(.detail)>td:nth-child(2){--c:var(--pending);position:relative;z-index:0;color:#fff;text-align:center;
white-space:nowrap;font-weight:600;font-size:.85rem;padding:.65rem 1rem}
tbody tr:not(.detail)>td:nth-child(2)::before{content:"";position:absolute;z-index:-1;left:.4rem;right:.4rem;
top:calc(.65rem - .2em);height:calc(1.45em + .4em);border-radius:999px;background:var(--c)}
tbody tr.up>td:nth-child(2){--c:var(--up)}
tbody tr.down>td:nth-child(2),tbody tr.stuck>td:nth-child(2),tr.quarantined>td:nth-child(2),tr.expired>td:nth-child(2){--c:var(--down)}
tbody tr.failed>td:nth-child(2){--c:var(--failed)}
tbody tr.stale>td:nth-child(2),tbody tr.previous>td:nth-child(2){--c:var(--stale)}
tr.down>td:first-child,tr.stuck>td:first-child,tr.quarantined>td:first-child,tr.expired>td:first-child{box-shadow:inset 4px 0 var(--down)}
tr.failed>td:first-child{box-shadow:inset 4px 0 var(--failed)}
tr.stale>td:first-child,tr.previous>td:first-child{box-shadow:inset 4px 0 var(--stale)}
td small{display:block;color:var(--muted);font-size:.8rem}
td time{white-space:nowrap}
tbody tr:not(.detail)>td:nth-child(n+3):nth-child(-n+6){white-space:nowrap}
.none{color:var(--muted)}
td code{background:var(--code-bg);padding:.05rem .3rem;border-radius:4px;overflow-wrap:break-word;display:inline-block;margin:.05rem 0;max-width:100%}
td details summary{cursor:pointer;color:var(--link);white-space:nowrap}td details[open] summary{margin-bottom:.2rem}
dl{margin:0;display:grid;grid-template-columns:repeat(2,minmax(0,max-content));gap:0 .9rem;font-size:.85rem}
dl div{display:flex;gap:.3rem;min-width:0}dt{color:var(--muted)}dd{margin:0;min-width:0;overflow-wrap:anywhere;font-variant-numeric:tabular-nums}
dl .bad dt,dl .bad dd{color:var(--down-text);font-weight:600}
tr.detail>td{padding:0 .7rem .7rem}
tr.detail>td:first-child{box-shadow:none}
tr.down.detail>td,tr.stuck.detail>td,tr.quarantined.detail>td,tr.expired.detail>td,tr.failed.detail>td,tr.stale.detail>td,tr.previous.detail>td{padding-left:calc(.7rem + 4px)}
tr.down.detail>td,tr.stuck.detail>td,tr.quarantined.detail>td,tr.expired.detail>td{box-shadow:inset 4px 0 var(--down)}
tr.failed.detail>td{box-shadow:inset 4px 0 var(--failed)}
tr.stale.detail>td,tr.previous.detail>td{box-shadow:inset 4px 0 var(--stale)}
.when{margin:0 0 .25rem;font-size:.8rem;color:var(--muted)}
pre{margin:0;white-space:pre-wrap;overflow-wrap:anywhere;background:var(--err-bg);border:1px solid var(--err-line);
border-radius:6px;padding:.5rem .7rem;font-size:.85rem}
pre code{display:block;margin-top:.25rem;padding:0;background:none;color:var(--muted)}
.hint{margin:.4rem 0 0;background:var(--hint-bg);border-radius:6px;padding:.35rem .7rem;font-size:.85rem}
.note{margin:.4rem 0 0;font-size:.85rem;color:var(--muted)}
.runs{margin:.4rem 0 0;font-size:.85rem}.runs ol{list-style:none;margin:.3rem 0 0;padding:0}
.runs li{margin:0 0 .5rem;padding-left:.6rem;border-left:3px solid var(--line)}.runs li.run-bad{border-left-color:var(--down)}
.runs li p{margin:0 0 .2rem}.runs li.run-bad strong{color:var(--down-text)}
pre.log{background:var(--code-bg);border-color:var(--line);margin-top:.2rem}
tbody td.empty{padding:1.5rem .8rem;color:var(--muted);font-weight:400}
footer{padding:0 1.5rem 1.5rem;color:var(--muted);font-size:.8rem}
.ignored h2,.probes h2{font-size:1rem;margin:1.5rem 0 .4rem}.ignored ul{margin:0;padding-left:1.2rem;font-size:.9rem}
@media (max-width:60rem){
header,main,footer{padding-left:.75rem;padding-right:.75rem}
nav{margin-left:0}
table,caption,tbody,tr,td{display:block;width:auto}
table{border:0;background:none}
thead{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%)}
tbody tr{background:var(--card);border:1px solid var(--line);border-radius:8px;margin-top:.75rem;padding:.5rem 0}
tbody tr.detail{border-top:0;border-radius:0 0 8px 8px;margin-top:0;padding-top:.25rem}
tbody tr:has(+tr.detail){border-bottom:0;border-radius:8px 8px 0 0;padding-bottom:0}
tbody tr:not(.detail)>td{border-top:0;position:relative;padding:.2rem .8rem .2rem 7.3rem;white-space:normal}
tbody tr:not(.detail)>td::before{position:absolute;left:.8rem;top:.3rem;color:var(--muted);font-size:.8rem}
tbody tr:not(.detail)>td:first-child,tbody tr:not(.detail)>td:nth-child(2){display:inline-block;padding:.2rem .8rem}
tbody tr:not(.detail)>td:first-child{font-size:1.05rem;padding-bottom:.4rem}
tbody tr:not(.detail)>td:nth-child(2){padding:.25rem .9rem;margin-left:.2rem}
tbody tr:not(.detail)>td:nth-child(2)::before{left:0;right:0;top:calc(.25rem - .2em)}
td:nth-child(3)::before{content:"Last run"}td:nth-child(4)::before{content:"Duration"}
td:nth-child(5)::before{content:"Interval"}td:nth-child(6)::before{content:"Timeout"}
td:nth-child(7)::before{content:"Metrics"}td:nth-child(8)::before{content:"Counts"}
tbody tr>td{box-shadow:none!important}
tr.down,tr.stuck,tr.quarantined,tr.expired,tr.failed,tr.stale,tr.previous{border-left:4px solid var(--down)!important}
tr.failed{border-left-color:var(--failed)!important}tr.stale,tr.previous{border-left-color:var(--stale)!important}
tr.detail>td{padding:.25rem .8rem .8rem!important}
}
`;

/** The link to a module's own page (lib/http/module_page.ts), relative so that it works behind a proxy's path prefix. */
export function modulePath(name: string): string {
  return `module?name=${encodeURIComponent(name)}`;
}

/** The landing page: header with links, a summary line, then every module, broken ones first. */
export function landingPage(modules: ModuleStatus[], options: LandingOptions): string {
  const now = options.now ?? Date.now();
  const iso = new Date(now).toISOString();
  const byState: Record<State, number> = {
    failed: 0,
    stale: 0,
    quarantined: 0,
    stuck: 0,
    expired: 0,
    down: 0,
    previous: 0,
    pending: 0,
    up: 0,
  };
  const ranked = modules.map((m) => {
    const state = stateOf(m);
    byState[state]++;
    return { m, state, rank: STATES.indexOf(state) };
  }).sort((a, b) => a.rank - b.rank || (a.m.name < b.m.name ? -1 : a.m.name > b.m.name ? 1 : 0));
  const broken = byState.failed + byState.stale + byState.quarantined + byState.stuck + byState.expired +
    byState.down + byState.previous;
  const path = escapeHtml(options.telemetryPath);
  const version = escapeHtml(options.version);
  const rows = ranked.map(({ m, state }) => row(m, state, now, options.runs?.(m.name))).join("");
  const empty = `<tr><td class="empty" colspan="${COLUMNS.length}">No modules yet. Put a <code>.ts</code> ` +
    `file that exports <code>process()</code> in the metrics dir and it loads within a second.</td></tr>\n`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">${
    options.refreshSeconds === undefined
      ? ""
      : `\n<meta http-equiv="refresh" content="${options.refreshSeconds}">`
  }
<title>${broken > 0 ? `${broken} broken · ` : ""}dynamic_exporter</title>
<style>${CSS}</style>
</head>
<body>
<header>
<h1>dynamic_exporter <small>version ${version}</small></h1>
<nav aria-label="Endpoints"><span class="cta"><a href="${path}">${path}</a></span> <a href="/-/healthy">/-/healthy</a> <a href="/-/ready">/-/ready</a></nav>
</header>
<main>
<p class="summary${broken > 0 ? " bad" : ""}">${summary(modules.length, byState)}</p>
<table>
<caption>Modules, broken first</caption>
<thead><tr>${COLUMNS.map((c) => `<th scope="col">${c}</th>`).join("")}</tr></thead>
<tbody>
${rows || empty}</tbody>
</table>
${probesSection(options.probes ?? [], now)}${ignoredSection(options.ignoredFiles ?? [])}</main>
<footer>Rendered <time datetime="${iso}">${iso}</time>. Modules run every ${
    options.defaultIntervalMs === 0 ? "scrape" : escapeHtml(formatDuration(options.defaultIntervalMs))
  } unless they export <code>interval</code>.</footer>
</body>
</html>
`;
}
