/** The text POST /-/run answers: what one run of a module did, as blackbox_exporter's &debug=true shows a probe. */

import type { RunRecord } from "../run_history.ts";

/** `run`'s outcome and log lines, then what the module serves after it (`exposition`; undefined: nothing). */
export function runReport(name: string, run: RunRecord, exposition: string | undefined): string {
  const ms = Math.round(run.durationSeconds * 1000);
  let out = `Run of module ${JSON.stringify(name)} at ${new Date(run.startedAt).toISOString()}: ` +
    `${run.outcome} after ${ms} ms${
      run.error === undefined ? "" : `: ${run.error}`
    }\n\nLog lines of the run:\n`;
  for (const line of run.lines) out += `${new Date(line.at).toISOString()} ${line.level} ${line.text}\n`;
  if (run.droppedLines > 0) out += `(${run.droppedLines} more lines not kept)\n`;
  if (run.lines.length === 0) out += "(none)\n";
  out += "\nMetrics the module serves now:\n";
  return out + (exposition || "(none)\n");
}
