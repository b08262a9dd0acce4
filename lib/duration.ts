/** Prometheus duration syntax: `1h30m`, `10s`, `500ms`, `0`. */

const UNITS: Readonly<Record<string, number>> = {
  y: 365 * 24 * 3600_000,
  w: 7 * 24 * 3600_000,
  d: 24 * 3600_000,
  h: 3600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
};

// Units must appear largest first, each at most once, as Prometheus' model.ParseDuration requires.
const ORDER = ["y", "w", "d", "h", "m", "s", "ms"];
const PART = /(\d+)(ms|[ywdhms])/y;

/** The longest interval or timeout accepted: longer is a typo, not a schedule. */
export const MAX_DURATION_MS = 365 * 24 * 3600_000;

/**
 * Parses a Prometheus duration into milliseconds; throws a message naming the input, also for
 * one longer than `maxMs` (default MAX_DURATION_MS).
 */
export function parseDuration(text: string, maxMs: number = MAX_DURATION_MS): number {
  if (text === "0") return 0;
  let ms = 0;
  let last = -1;
  let pos = 0;
  while (pos < text.length) {
    const part = new RegExp(PART);
    part.lastIndex = pos;
    const match = part.exec(text);
    if (!match) break;
    const rank = ORDER.indexOf(match[2]);
    if (rank <= last) {
      throw new Error(`invalid duration "${text}": units must go from largest to smallest`);
    }
    last = rank;
    ms += Number(match[1]) * UNITS[match[2]];
    pos = part.lastIndex;
  }
  if (text === "" || pos !== text.length) {
    throw new Error(`invalid duration "${text}": use a number and a unit, like 500ms, 10s, 1m or 1h30m`);
  }
  if (!Number.isSafeInteger(ms) || ms > maxMs) {
    throw new Error(`invalid duration "${text}": at most ${formatDuration(maxMs)}`);
  }
  return ms;
}

/** Formats milliseconds in the shortest Prometheus form, e.g. 90000 -> "1m30s". */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  let rest = ms;
  let out = "";
  for (const unit of ORDER) {
    const size = UNITS[unit];
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}
