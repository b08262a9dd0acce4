/**
 * HTTP content negotiation for the metrics endpoint: exposition format from
 * `Accept`, gzip from `Accept-Encoding`.
 *
 * @module
 */

import { keepingLast } from "../keeping_last.ts";
import type { Format } from "./format.ts";

interface Element {
  value: string;
  q: number;
}

const TOKEN = "[a-z0-9!#$%&'*+.^_`|~-]+";
const TOKEN_RE = new RegExp(`^${TOKEN}$`);
const MEDIA_RANGE_RE = new RegExp(`^(${TOKEN})/(${TOKEN})$`);
// RFC 9110 qvalue: at most three decimals, never above 1.
const QVALUE_RE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * Picks the exposition format for an `Accept` header.
 *
 * OpenMetrics is chosen only when `application/openmetrics-text` (any
 * version) has a strictly higher q than text/plain would get, where
 * text/plain takes its q from the most specific matching range: `text/plain`,
 * else `text/*`, else `*\/*`. Ties, a missing or unparsable header and q=0
 * give `"text"`, which every Prometheus version understands.
 *
 * @param accept The `Accept` request header, or `null` when absent.
 * @returns The format to render.
 *
 * @example Usage
 * ```ts
 * import { negotiateFormat } from "./negotiate.ts";
 * negotiateFormat("application/openmetrics-text;version=1.0.0,*\/*;q=0.1"); // "openmetrics"
 * negotiateFormat(null); // "text"
 * ```
 */
export function negotiateFormat(accept: string | null): Format {
  return accept === null ? "text" : formatFor(accept);
}

const formatFor = keepingLast((accept: string): Format => {
  let openMetricsQ = 0;
  let textPlainQ: number | undefined;
  let textAnyQ: number | undefined;
  let anyQ: number | undefined;
  for (const { value, q } of parseList(accept)) {
    const match = MEDIA_RANGE_RE.exec(value);
    if (match === null) continue;
    const [, type, subtype] = match;
    if (type === "application" && subtype === "openmetrics-text") {
      openMetricsQ = Math.max(openMetricsQ, q);
    } else if (type === "text" && subtype === "plain") {
      textPlainQ = Math.max(textPlainQ ?? 0, q);
    } else if (type === "text" && subtype === "*") {
      textAnyQ = Math.max(textAnyQ ?? 0, q);
    } else if (type === "*" && subtype === "*") {
      anyQ = Math.max(anyQ ?? 0, q);
    }
  }
  const textQ = textPlainQ ?? textAnyQ ?? anyQ ?? 0;
  return openMetricsQ > textQ ? "openmetrics" : "text";
});

/**
 * Tells whether an `Accept-Encoding` header allows a gzip response.
 *
 * An explicit `gzip` (or its alias `x-gzip`) entry decides; otherwise `*`
 * does. Either must have q > 0.
 *
 * @param acceptEncoding The `Accept-Encoding` request header, or `null` when
 * absent.
 * @returns `true` when the body may be gzip-compressed.
 *
 * @example Usage
 * ```ts
 * import { acceptsGzip } from "./negotiate.ts";
 * acceptsGzip("gzip, deflate, br"); // true
 * acceptsGzip("gzip;q=0"); // false
 * ```
 */
export function acceptsGzip(acceptEncoding: string | null): boolean {
  return acceptEncoding === null ? false : gzipFor(acceptEncoding);
}

const gzipFor = keepingLast((acceptEncoding: string): boolean => {
  let gzipQ: number | undefined;
  let anyQ: number | undefined;
  for (const { value, q } of parseList(acceptEncoding)) {
    if (value === "gzip" || value === "x-gzip") {
      gzipQ = Math.max(gzipQ ?? 0, q);
    } else if (value === "*") {
      anyQ = Math.max(anyQ ?? 0, q);
    }
  }
  return (gzipQ ?? anyQ ?? 0) > 0;
});

/**
 * Parses a comma-separated header of `value;param=x;q=0.5` elements, with
 * the value lowercased. Elements that are not a token (or type/subtype) or
 * carry an invalid q are dropped, so garbage never outranks a valid entry.
 */
function parseList(header: string): Element[] {
  const elements: Element[] = [];
  for (const part of splitOutsideQuotes(header, ",")) {
    const [head, ...params] = splitOutsideQuotes(part, ";");
    const value = head.trim().toLowerCase();
    if (!TOKEN_RE.test(value) && !MEDIA_RANGE_RE.test(value)) continue;
    let q: number | undefined = 1;
    for (const param of params) {
      const eq = param.indexOf("=");
      if (eq === -1) continue;
      if (param.slice(0, eq).trim().toLowerCase() !== "q") continue;
      const raw = param.slice(eq + 1).trim();
      q = QVALUE_RE.test(raw) ? Number(raw) : undefined;
      break;
    }
    if (q !== undefined) elements.push({ value, q });
  }
  return elements;
}

/** Splits on `separator`, except inside quoted strings (which may escape). */
function splitOutsideQuotes(input: string, separator: string): string[] {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (quoted && c === "\\") {
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (!quoted && c === separator) {
      parts.push(input.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(input.slice(start));
  return parts;
}
