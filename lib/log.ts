/** Structured logger: one line per event to stderr, logfmt or JSON. */

import { isSecretKey, redactField, redactSecrets } from "./redact.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "logfmt" | "json";
export type LogFields = Record<string, unknown>;

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
export const LOG_FORMATS: readonly LogFormat[] = ["logfmt", "json"];

export interface LoggerOptions {
  /** Lowest level written. Default: "info". */
  level?: LogLevel;
  /** Line format. Default: "logfmt". */
  format?: LogFormat;
  /** Where a finished line goes. Default: stderr. */
  write?: (line: string) => void;
  /** Current time. Default: `() => new Date()`. */
  now?: () => Date;
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

export class Logger {
  readonly #level: number;
  readonly #format: LogFormat;
  readonly #write: (line: string) => void;
  readonly #now: () => Date;
  readonly #fields: LogFields;

  constructor(options: LoggerOptions = {}, fields: LogFields = {}) {
    this.#level = LOG_LEVELS.indexOf(options.level ?? "info");
    this.#format = options.format ?? "logfmt";
    this.#write = options.write ?? writeStderr;
    this.#now = options.now ?? (() => new Date());
    this.#fields = fields;
  }

  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger {
    return new Logger(
      {
        level: LOG_LEVELS[this.#level],
        format: this.#format,
        write: this.#write,
        now: this.#now,
      },
      { ...this.#fields, ...fields },
    );
  }

  debug(msg: string, fields?: LogFields): void {
    this.#log("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.#log("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.#log("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.#log("error", msg, fields);
  }

  #log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LOG_LEVELS.indexOf(level) < this.#level) return;
    // The fixed keys come first, and a child's fields (`module=`) after them: neither can be
    // overwritten by a call's field of the same name, so a module cannot log as another (issue 11).
    const record: LogFields = { ...this.#fields };
    for (const [key, value] of Object.entries(fields ?? {})) if (!(key in record)) record[key] = value;
    const line: LogFields = { ts: this.#now().toISOString(), level, msg };
    for (const [key, value] of Object.entries(record)) if (!(key in line)) line[key] = value;
    try {
      this.#write(this.#format === "json" ? toJson(line) : toLogfmt(line));
    } catch {
      // A closed stderr must not take the exporter down.
    }
  }
}

/**
 * A field's value as it is written. Every string in it has its credentials masked: fields
 * carry errors, and errors quote connection strings with their passwords (issue 8, item 14);
 * and a module may log a field, or an object, with a key such as `password` (issue 18).
 */
function plain(value: unknown, key: string): unknown {
  if (value instanceof Error) return redactSecrets(value.message);
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "bigint") return redactField(key, value.toString());
  if (typeof value === "string") return redactField(key, value);
  if (typeof value === "number") return isSecretKey(key) ? redactField(key, String(value)) : value;
  if (typeof value === "object" && value !== null) {
    try {
      return JSON.parse(JSON.stringify(value, (k, v) => typeof v === "string" ? redactField(k, v) : v));
    } catch {
      return redactSecrets(String(value)); // circular or otherwise unserialisable: still log the event
    }
  }
  return value;
}

function toJson(record: LogFields): string {
  const out: LogFields = {};
  for (const [key, value] of Object.entries(record)) {
    if (value !== undefined) out[key] = plain(value, key);
  }
  return JSON.stringify(out);
}

function toLogfmt(record: LogFields): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (value === undefined) continue;
    parts.push(`${key}=${logfmtValue(plain(value, key))}`);
  }
  return parts.join(" ");
}

function logfmtValue(value: unknown): string {
  const text = typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  if (text !== "" && !/[\s"=\\]/.test(text)) return text;
  return JSON.stringify(text);
}
