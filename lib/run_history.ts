/**
 * Each module's last runs, for the status page and POST /-/run (issue 19): when each started,
 * how long it took, its outcome and error, and the lines the module logged meanwhile (ctx.log and
 * its console, relayed from its host). Bounded: a module that logs a megabyte a run, or runs every
 * 100 ms, keeps a few KB here. Failed runs are kept longer than successful ones: the run an
 * operator looks for is the one that failed, and a module that recovered has buried it under
 * successes by the time they look.
 */

import { redactField, redactSecrets } from "./redact.ts";
import type { RunOutcome, RunResult } from "./schedule/runner.ts";

/** Successful runs kept per module. */
export const MAX_SUCCESSES = 3;
/** Failed runs kept per module. */
export const MAX_FAILURES = 10;
/** Lines kept per run: the first ones (the later ones are counted). */
export const MAX_LINES = 20;
/** Characters kept of a line. */
export const MAX_LINE_CHARS = 500;

export interface RunLine {
  /** ms since the epoch. */
  at: number;
  level: string;
  /** The message and its fields, logfmt-like, credentials masked, at most MAX_LINE_CHARS. */
  text: string;
}

export interface RunRecord {
  /** ms since the epoch. */
  startedAt: number;
  durationSeconds: number;
  outcome: RunOutcome;
  /** The error's message, credentials masked. */
  error?: string;
  lines: RunLine[];
  /** Lines past MAX_LINES, not kept. */
  droppedLines: number;
}

interface Open {
  lines: RunLine[];
  droppedLines: number;
}

/** `msg k=v ...`, cut to MAX_LINE_CHARS. */
export function formatLine(msg: string, fields: Record<string, unknown> = {}): string {
  let text = redactSecrets(msg);
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    let shown: string;
    try {
      shown = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
    } catch {
      shown = String(value);
    }
    shown = redactField(key, shown);
    text += ` ${key}=${shown !== "" && !/[\s"=]/.test(shown) ? shown : JSON.stringify(shown)}`;
    if (text.length > MAX_LINE_CHARS) break;
  }
  return text.length <= MAX_LINE_CHARS ? text : `${text.slice(0, MAX_LINE_CHARS - 1)}…`;
}

export class RunHistory {
  readonly #open = new Map<string, Open>();
  readonly #runs = new Map<string, RunRecord[]>();
  readonly #now: () => number;

  /** `now`: ms since the epoch. Default `Date.now`. */
  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** A run of the module started: the lines it logs from now on are its. */
  begin(name: string): void {
    this.#open.set(name, { lines: [], droppedLines: 0 });
  }

  /** A line the module logged; kept only while one of its runs is open. */
  line(name: string, level: string, msg: string, fields?: Record<string, unknown>): void {
    const open = this.#open.get(name);
    if (!open) return;
    if (open.lines.length >= MAX_LINES) {
      open.droppedLines++;
      return;
    }
    open.lines.push({ at: this.#now(), level, text: formatLine(msg, fields) });
  }

  /** The run ended with `result`: its record, kept within the bounds. */
  end(name: string, result: RunResult): RunRecord {
    const open = this.#open.get(name) ?? { lines: [], droppedLines: 0 };
    this.#open.delete(name);
    const error = result.error === undefined
      ? undefined
      : formatLine(result.error instanceof Error ? result.error.message : String(result.error));
    const record: RunRecord = {
      startedAt: result.startedAt,
      durationSeconds: result.durationSeconds,
      outcome: result.outcome,
      error,
      lines: open.lines,
      droppedLines: open.droppedLines,
    };
    const runs = [record, ...this.#runs.get(name) ?? []];
    let successes = 0;
    let failures = 0;
    this.#runs.set(
      name,
      runs.filter((run) =>
        run.outcome === "success" ? ++successes <= MAX_SUCCESSES : ++failures <= MAX_FAILURES
      ),
    );
    return record;
  }

  /** The module's kept runs, newest first. */
  runs(name: string): readonly RunRecord[] {
    return this.#runs.get(name) ?? [];
  }

  delete(name: string): void {
    this.#open.delete(name);
    this.#runs.delete(name);
  }
}
