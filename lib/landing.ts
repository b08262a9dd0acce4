/** The landing page: a link to the telemetry path and a table of modules. */

import { formatDuration } from "./duration.ts";
import type { ModuleStatus } from "./status.ts";

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function time(ms: number | undefined): string {
  return ms === undefined ? "never" : new Date(ms).toISOString();
}

function state(m: ModuleStatus): string {
  if (!m.loaded) return "failed";
  if (!m.lastLoadSuccessful) return "stale (reload failed)";
  if (m.lastRunAt === undefined) return "loaded";
  return m.up ? "up" : "down";
}

export interface LandingOptions {
  telemetryPath: string;
  version: string;
  defaultIntervalMs: number;
}

export function landingPage(modules: ModuleStatus[], options: LandingOptions): string {
  const rows = modules.map((m) => {
    const err = m.lastError;
    const where = err ? `${err.file}${err.line ? `:${err.line}` : ""}` : "";
    const interval = m.intervalMs ?? options.defaultIntervalMs;
    return `<tr class="${escapeHtml(state(m).split(" ")[0])}"><td>${escapeHtml(m.name)}</td><td>${
      escapeHtml(state(m))
    }</td><td>${time(m.lastRunAt)}</td><td>${
      m.lastDurationSeconds === undefined ? "" : m.lastDurationSeconds.toFixed(3) + " s"
    }</td><td>${interval === 0 ? "at scrape" : formatDuration(interval)}</td><td>${
      escapeHtml(m.metricNames.join(", "))
    }</td><td>${
      err
        ? `${escapeHtml(err.stage)}: ${escapeHtml(err.message)} <code>${escapeHtml(where)}</code>${
          err.hint ? ` (${escapeHtml(err.hint)})` : ""
        }`
        : ""
    }</td></tr>`;
  }).join("\n");
  return `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>dynamic_exporter</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
tr.failed td,tr.down td,tr.stale td{background:#fde8e8}
</style></head>
<body>
<h1>dynamic_exporter</h1>
<p>Version ${escapeHtml(options.version)}. Metrics: <a href="${escapeHtml(options.telemetryPath)}">${
    escapeHtml(options.telemetryPath)
  }</a></p>
<h2>Modules</h2>
<table>
<thead><tr><th>Module</th><th>State</th><th>Last run</th><th>Duration</th><th>Interval</th><th>Metrics</th><th>Last error</th></tr></thead>
<tbody>
${rows || '<tr><td colspan="7">No modules loaded.</td></tr>'}
</tbody>
</table>
</body>
</html>
`;
}
