/**
 * What a module's backend gave it in one run, as `test-module` records and replays it (issue
 * 19): the `fetch` exchanges, the commands and their output, the files and their contents, the
 * settings it read, and the clock. One JSON file per run, `_fixtures/<module>/<scenario>/runN.json`,
 * written by `--record` or by hand; read here with an error that names the file and the field.
 */

import { posix } from "node:path";

/** One `fetch()` and what came back: a response, an error (fetch rejected), or nothing (it hung until aborted). */
export interface FetchExchange {
  method: string;
  url: string;
  /** The request's headers as recorded, credentials masked (lib/redact.ts). Not matched on. */
  headers?: Record<string, string>;
  response?: {
    status: number;
    statusText?: string;
    headers?: Record<string, string>;
    /** Where fetch's redirects led, when it followed any (`Response.url`; `redirected` is true). */
    url?: string;
    /** The body as text, or `base64` when it is not UTF-8. */
    body?: string;
    base64?: string;
  };
  /** fetch() rejected with this message (a refused connection, a DNS failure). */
  error?: string;
  /** The backend never answered: the call waits until the module's signal aborts (a timeout). */
  hang?: boolean;
}

/** One command run through Deno.Command, and what it printed. */
export interface CommandExchange {
  command: string;
  args: string[];
  code: number;
  stdout: string;
  stderr?: string;
}

/** One file as the module read it (Deno.readTextFile, readFile, stat and their Sync forms), or why it could not. */
export interface FileEntry {
  text?: string;
  base64?: string;
  /** Deno.stat's answer: times in ms since the epoch. */
  stat?: { isFile: boolean; isDirectory: boolean; size: number; mtime?: number; mode?: number };
  /** The read failed: Deno's error class name ("NotFound", "PermissionDenied") and its message. */
  error?: { name: string; message: string };
}

export interface RunFixture {
  /** A probe module's run: probe(target, ctx) with these, instead of process(). */
  probe?: { target: string; params?: Record<string, string> };
  /**
   * Date.now() during the run, each reading in order (or one, for all): a replay gives them
   * back, so an age computed from the clock is the same as when it was recorded.
   */
  clock?: number | number[];
  /** performance.now() during the run, each reading in order: a duration a module measures replays the same. */
  monotonic?: number[];
  fetch?: FetchExchange[];
  commands?: CommandExchange[];
  /** By absolute path, or `./<path>` for one under the module's dir (so fixtures move with it). */
  files?: Record<string, FileEntry>;
  /** Settings the module read (Deno.env.get), by name; null: unset. Credential-like values are masked. */
  env?: Record<string, string | null>;
}

/** A fixture file that is not one: its path and what is wrong. */
export class FixtureError extends Error {
  override name = "FixtureError";
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** `text`, the content of `file`, checked as a RunFixture. */
export function parseRunFixture(text: string, file: string): RunFixture {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new FixtureError(`${file}: not JSON: ${(err as Error).message}`);
  }
  const fail = (where: string, what: string): never => {
    throw new FixtureError(`${file}: ${where} ${what}`);
  };
  if (!isObject(value)) fail("the file", "must hold an object");
  const run = value as Json;
  for (const key of Object.keys(run)) {
    if (!["probe", "clock", "monotonic", "fetch", "commands", "files", "env"].includes(key)) {
      fail(`"${key}"`, `is not a fixture field (probe, clock, monotonic, fetch, commands, files, env)`);
    }
  }
  if (run.probe !== undefined) {
    const p = run.probe;
    if (!isObject(p) || typeof p.target !== "string" || p.target === "") fail(`"probe"`, `needs "target"`);
    const params = (p as Json).params ?? {};
    if (!isObject(params) || !Object.values(params).every((v) => typeof v === "string")) {
      fail(`probe.params`, "must map names to strings");
    }
  }
  const clock = run.clock === undefined ? [] : Array.isArray(run.clock) ? run.clock : [run.clock];
  if (!clock.every(Number.isFinite)) fail(`"clock"`, "must be ms since the epoch, or a list of them");
  const monotonic = run.monotonic ?? [];
  if (!Array.isArray(monotonic) || !monotonic.every(Number.isFinite)) {
    fail(`"monotonic"`, "must be a list of performance.now() readings");
  }
  const list = (key: string): Json[] => {
    const items = run[key] ?? [];
    if (!Array.isArray(items)) fail(`"${key}"`, "must be a list");
    (items as unknown[]).forEach((item, i) => isObject(item) || fail(`${key}[${i}]`, "must be an object"));
    return items as Json[];
  };
  const text_ = (v: unknown) => v === undefined || typeof v === "string";
  const headers = (v: unknown) =>
    v === undefined || (isObject(v) && Object.values(v).every((h) => typeof h === "string"));
  list("fetch").forEach((f, i) => {
    const at = `fetch[${i}]`;
    if (typeof f.url !== "string") fail(at, `needs "url"`);
    try {
      new URL(f.url as string);
    } catch {
      fail(`${at}.url`, `is not an absolute URL: ${JSON.stringify(f.url)}`);
    }
    if (f.method !== undefined && typeof f.method !== "string") fail(`${at}.method`, "must be a string");
    if (!headers(f.headers)) fail(`${at}.headers`, "must map names to strings");
    const outcomes = ["response", "error", "hang"].filter((k) => f[k] !== undefined && f[k] !== false);
    if (outcomes.length !== 1) fail(at, `needs exactly one of "response", "error", "hang"`);
    if (f.response !== undefined) {
      const r = f.response;
      if (!isObject(r)) return fail(`${at}.response`, "must be an object");
      if (!Number.isInteger(r.status) || (r.status as number) < 200 || (r.status as number) > 599) {
        fail(`${at}.response.status`, "must be an HTTP status from 200 to 599");
      }
      if (!headers(r.headers)) fail(`${at}.response.headers`, "must map names to strings");
      if (!text_(r.body) || !text_(r.base64)) fail(`${at}.response`, `"body" and "base64" must be strings`);
      if (r.url !== undefined) {
        try {
          new URL(r.url as string);
        } catch {
          fail(`${at}.response.url`, `is not an absolute URL: ${JSON.stringify(r.url)}`);
        }
      }
    }
    if (f.error !== undefined && typeof f.error !== "string") fail(`${at}.error`, "must be a message");
  });
  list("commands").forEach((c, i) => {
    const at = `commands[${i}]`;
    if (typeof c.command !== "string") fail(at, `needs "command"`);
    if (!Array.isArray(c.args ?? []) || !(c.args as unknown[] ?? []).every((a) => typeof a === "string")) {
      fail(`${at}.args`, "must be a list of strings");
    }
    if (!Number.isInteger(c.code ?? 0)) fail(`${at}.code`, "must be an exit code");
    if (!text_(c.stdout) || !text_(c.stderr)) fail(at, `"stdout" and "stderr" must be strings`);
  });
  if (run.files !== undefined && !isObject(run.files)) fail(`"files"`, "must map paths to entries");
  for (const [path, entry] of Object.entries((run.files ?? {}) as Json)) {
    const at = `files[${JSON.stringify(path)}]`;
    if (!path.startsWith("/") && !path.startsWith("./")) {
      fail(at, "must be an absolute path, or ./<path> under the module's dir");
    }
    // A replay looks a read up by its resolved name: any other spelling would never be served.
    const under = path.startsWith("./") ? posix.normalize(path.slice(2)) : undefined;
    if (under === ".." || under?.startsWith("../")) {
      fail(at, "leaves the module's dir: name the file by its absolute path");
    }
    const resolved = under === undefined ? posix.resolve(path) : `./${posix.resolve("/", under).slice(1)}`;
    if (resolved !== path) fail(at, `is never read by that name: write ${JSON.stringify(resolved)}`);
    if (!isObject(entry)) fail(at, "must be an object");
    const e = entry as Json;
    if (!text_(e.text) || !text_(e.base64)) fail(at, `"text" and "base64" must be strings`);
    if (e.stat !== undefined && (!isObject(e.stat) || !Number.isFinite((e.stat as Json).size))) {
      fail(`${at}.stat`, `must be an object with "size"`);
    }
    if (e.error !== undefined && (!isObject(e.error) || typeof (e.error as Json).name !== "string")) {
      fail(`${at}.error`, `must be { "name": "NotFound", "message": "..." }`);
    }
  }
  if (run.env !== undefined) {
    if (!isObject(run.env)) fail(`"env"`, "must map names to values");
    for (const [name, v] of Object.entries(run.env as Json)) {
      if (v !== null && typeof v !== "string") fail(`env.${name}`, "must be a string or null");
    }
  }
  return {
    ...run.probe === undefined ? {} : { probe: run.probe as NonNullable<RunFixture["probe"]> },
    clock: clock as number[],
    monotonic: monotonic as number[],
    fetch: list("fetch").map((f) => ({
      ...f,
      method: ((f.method as string) ?? "GET").toUpperCase(),
    })) as never,
    commands: list("commands").map((c) => ({ args: [], code: 0, stdout: "", ...c })) as never,
    files: (run.files ?? {}) as Record<string, FileEntry>,
    env: (run.env ?? {}) as Record<string, string | null>,
  };
}
