/** Command-line flags, in Prometheus' dotted naming. */

import { parseArgs } from "node:util";
import { parseDuration } from "./duration.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "./log.ts";
import { type Ceiling, ceilingValue, defaultCeiling } from "./supervisor/ceiling.ts";
import { parseSize, PERMISSION_KINDS } from "./modules/sandbox.ts";
import { REPORT_FORMATS, type ReportFormat } from "./testing/report.ts";

export interface ListenAddress {
  /** Host to bind; "" means every interface, IPv4 and IPv6. */
  hostname: string;
  port: number;
}

export interface Config {
  listenAddress: ListenAddress;
  telemetryPath: string;
  webConfigFile?: string;
  enableLifecycle: boolean;
  /** Requests answered at once; past it 503. 0: no limit. */
  maxRequests: number;
  /** Idle connections are closed within this long (the socket is rebound this often). 0: never. */
  idleTimeoutMs: number;
  metricsDir: string;
  /** --modules.sandbox: every module runs in a host of its own with only what it declares. */
  sandboxAll: boolean;
  /** --modules.allow-*: the shared host's permissions and the most a sandbox may declare. */
  moduleCeiling: Ceiling;
  /** --modules.memory: the shared host's heap budget. */
  sharedMemoryBytes: number;
  /** --modules.host-grace: how long a host may be silent past its calls' timeouts before it is killed. */
  hostGraceMs: number;
  /** --modules.heartbeat: how often each host is pinged. */
  hostHeartbeatMs: number;
  rescanIntervalMs: number;
  collectIntervalMs: number;
  collectTimeoutMs: number;
  /** --collect.max-age: a module whose last success is older stops serving its series. 0: never. */
  collectMaxAgeMs: number;
  shutdownTimeoutMs: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** `--env-file`: KEY=VALUE lines loaded into the environment before any module. */
  envFile?: string;
}

export type Command =
  | { kind: "run"; config: Config }
  | { kind: "check"; file: string; config: Config; target?: string; suggestSandbox?: true }
  /** `test <module file | dir>...`: run modules against their fixtures (lib/testing/test_module.ts). */
  | { kind: "test"; paths: string[]; config: Config; test: TestFlags }
  | { kind: "help"; text: string }
  | { kind: "version" };

/** The flags only `test` takes. */
export interface TestFlags {
  record: boolean;
  /** With record: the probe target to record. */
  probe?: { target: string };
  update: boolean;
  scenario?: string;
  format: ReportFormat;
}

/** A flag that cannot be used: main prints the message and exits 2. */
export class FlagError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FlagError";
  }
}

interface FlagSpec {
  default?: string;
  boolean?: true;
  /** A one-letter alias, as `-h` for `--help`. */
  short?: string;
  /** The value may be left out, as with Deno's `--allow-*`. */
  optional?: true;
  help: string;
}

const FLAGS: Readonly<Record<string, FlagSpec>> = {
  "web.listen-address": {
    default: ":8000",
    help: "Address to listen on: host:port, :port (all interfaces), [::1]:port; port 0 picks a free port.",
  },
  "web.telemetry-path": { default: "/metrics", help: "Path under which to expose metrics." },
  "web.config.file": {
    help: "Path to an exporter-toolkit web config file (TLS, basic auth, headers); re-read when it changes.",
  },
  "web.enable-lifecycle": {
    boolean: true,
    help:
      "Enable POST /-/reload, which rescans the metrics dir and reloads every module, and POST /-/run?module=<name>, which runs one module now.",
  },
  "web.max-requests": {
    default: "40",
    help:
      "Maximum number of requests served at once (/-/healthy and /-/ready excepted); more get 503 at once. 0 means no limit.",
  },
  "web.idle-timeout": {
    default: "5m",
    help:
      "Idle HTTP connections (kept alive, or without a complete request) are closed within this long, by rebinding the socket, which refuses new connections for a few ms. 0 never closes them.",
  },
  "metrics.dir": { default: "./metrics", help: "Directory of metric modules." },
  target: {
    help:
      "With check: call the module's probe() once with this target (one the module accepts), as GET /probe would. With test --record: record a probe of it.",
  },
  record: {
    boolean: true,
    help:
      'With test: run each module once against its real backend and store what it fetched, ran and read as a scenario (--scenario, default "recorded") with its golden file.',
  },
  update: { boolean: true, help: "With test: rewrite the golden files (runN.prom) with what is served." },
  scenario: { help: "With test: only this scenario; with --record, the one it writes." },
  format: { default: "text", help: "With test: the report's format: text, tap or junit." },
  "suggest-sandbox": {
    boolean: true,
    help:
      "With check: run the module once within the modules' permissions with Deno's permission audit on, and print the sandbox declaration of what it used (net as host:port, exact paths, env names), checked by a second run in a host with exactly it.",
  },
  "metrics.rescan-interval": {
    default: "30s",
    help:
      "How often the metrics dir is rescanned without a file event (for file systems that send none, such as NFS), retrying modules that failed to load.",
  },
  "modules.sandbox": {
    boolean: true,
    help:
      "Run every module in a host process of its own with only the permissions its sandbox export declares (none if it declares none).",
  },
  ...Object.fromEntries(PERMISSION_KINDS.map((kind) => [`modules.allow-${kind}`, {
    optional: true,
    help: `What modules may have of ${kind}, as Deno's --allow-${kind} takes it: the flag alone for all, ` +
      `=a,b for those, = for none. The shared host holds it; a sandbox may declare within it.` +
      (["read", "net", "env"].includes(kind) ? " Default: all." : " Default: none."),
  }])),
  "modules.memory": {
    default: "1GiB",
    help:
      "The heap budget of the shared module host (modules without a sandbox); a sandboxed module's is its sandbox.memory. A host past it is restarted.",
  },
  "modules.host-grace": {
    default: "3s",
    help:
      "A module host that answers nothing for this long past the timeouts of its calls (a loop after an await, a long native call) is killed and restarted.",
  },
  "modules.heartbeat": { default: "1s", help: "How often each module host is pinged." },
  "collect.interval": {
    default: "10s",
    help: "How often each module's process() runs; 0 runs it at scrape time.",
  },
  "collect.timeout": {
    default: "5s",
    help: "A process() call running longer than this is abandoned and counted as a timeout.",
  },
  "collect.max-age": {
    default: "0",
    help:
      "Once a module's last successful process() is older than this, its series are no longer served (module_up stays 0) until its next success; a module's maxAge export overrides it. 0 serves the last values for ever.",
  },
  "shutdown.timeout": {
    default: "15s",
    help:
      "Deadline for stopping on SIGTERM or SIGINT; what is still pending then is logged and abandoned, and the exit code is 3. Keep it below systemd's TimeoutStopSec.",
  },
  "log.level": {
    default: "info",
    help: "Only log messages at or above this level: debug, info, warn, error.",
  },
  "log.format": { default: "logfmt", help: "Log line format: logfmt or json." },
  "env-file": {
    help:
      "A file of KEY=VALUE lines (# comments, optional quotes) loaded into the environment before any module loads, for the modules' settings; a variable already set in the environment wins.",
  },
  help: { boolean: true, short: "h", help: "Show this help and exit." },
  version: { boolean: true, help: "Show version information and exit." },
};

const USAGE = `usage: dynamic_exporter [flags]
       dynamic_exporter check <module file> [flags]
       dynamic_exporter test <module file | dir>... [flags]

Serves Prometheus metrics computed by the TypeScript/JavaScript modules in a directory,
loading, reloading and unloading them as the files change.`;

export function helpText(): string {
  const lines = [USAGE, "", "Flags:"];
  for (const [name, spec] of Object.entries(FLAGS)) {
    const value = spec.boolean ? "" : spec.optional ? "[=<values>]" : "=<value>";
    const def = spec.default === undefined ? "" : ` (default: ${JSON.stringify(spec.default)})`;
    const short = spec.short ? `-${spec.short}, ` : "";
    lines.push(`  ${short}--${name}${value}`, `      ${spec.help}${def}`);
  }
  return lines.join("\n") + "\n";
}

/** A `--modules.allow-<kind>` given alone, as Deno's `--allow-<kind>` may be: all of the kind. */
const ALL = "\u0000all";

/** The ceiling the `--modules.allow-*` flags give, the default for those not given. */
function ceilingFlags(values: Record<string, string | boolean | undefined>): Ceiling {
  const ceiling = defaultCeiling();
  for (const kind of PERMISSION_KINDS) {
    const value = values[`modules.allow-${kind}`] as string | undefined;
    if (value !== undefined) ceiling[kind] = ceilingValue(value === ALL ? undefined : value);
  }
  return ceiling;
}

function sizeFlag(name: string, value: string): number {
  try {
    return parseSize(value, `--${name}`);
  } catch (err) {
    throw new FlagError((err as Error).message, { cause: err });
  }
}

/** Parses the command line; throws FlagError naming the flag at fault. */
export function parseCommand(args: string[]): Command {
  args = args.map((arg) => /^--modules\.allow-[a-z]+$/.test(arg) ? `${arg}=${ALL}` : arg);
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      tokens: true,
      options: Object.fromEntries(
        Object.entries(FLAGS).map(([name, spec]) => [
          name,
          {
            type: spec.boolean ? "boolean" as const : "string" as const,
            ...(spec.short ? { short: spec.short } : {}),
          },
        ]),
      ),
    });
  } catch (err) {
    throw new FlagError(describeParseError(err), { cause: err });
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const seen = new Set<string>();
  for (const token of parsed.tokens ?? []) {
    if (token.kind !== "option") continue;
    // A ceiling flag baked into the binary by the compile task comes first; one given at run
    // time replaces it (the binary's own permissions still bound it).
    if (seen.has(token.name) && !token.name.startsWith("modules.allow-")) {
      throw new FlagError(`--${token.name}: given more than once`);
    }
    seen.add(token.name);
  }
  if (values.help) return { kind: "help", text: helpText() };
  if (values.version) return { kind: "version" };

  const flag = (name: string): string => (values[name] as string | undefined) ?? FLAGS[name].default!;
  const config: Config = {
    listenAddress: parseListenAddress(flag("web.listen-address")),
    telemetryPath: parseTelemetryPath(flag("web.telemetry-path")),
    webConfigFile: values["web.config.file"] as string | undefined,
    enableLifecycle: values["web.enable-lifecycle"] === true,
    maxRequests: wholeNumber("web.max-requests", flag("web.max-requests")),
    idleTimeoutMs: durationFlag("web.idle-timeout", flag("web.idle-timeout"), ONE_TIMER_MS),
    metricsDir: nonEmpty("metrics.dir", flag("metrics.dir")),
    sandboxAll: values["modules.sandbox"] === true,
    moduleCeiling: ceilingFlags(values),
    sharedMemoryBytes: sizeFlag("modules.memory", flag("modules.memory")),
    hostGraceMs: durationFlag("modules.host-grace", flag("modules.host-grace"), ONE_TIMER_MS),
    hostHeartbeatMs: durationFlag("modules.heartbeat", flag("modules.heartbeat"), ONE_TIMER_MS),
    rescanIntervalMs: durationFlag("metrics.rescan-interval", flag("metrics.rescan-interval"), ONE_TIMER_MS),
    collectIntervalMs: durationFlag("collect.interval", flag("collect.interval")),
    collectTimeoutMs: durationFlag("collect.timeout", flag("collect.timeout")),
    collectMaxAgeMs: durationFlag("collect.max-age", flag("collect.max-age")),
    shutdownTimeoutMs: durationFlag("shutdown.timeout", flag("shutdown.timeout"), ONE_TIMER_MS),
    logLevel: oneOf("log.level", flag("log.level"), LOG_LEVELS),
    logFormat: oneOf("log.format", flag("log.format"), LOG_FORMATS),
    envFile: values["env-file"] === undefined
      ? undefined
      : nonEmpty("env-file", values["env-file"] as string),
  };
  if (config.collectTimeoutMs === 0) {
    throw new FlagError(`--collect.timeout: must be greater than 0`);
  }
  if (config.shutdownTimeoutMs === 0) {
    throw new FlagError(`--shutdown.timeout: must be greater than 0`);
  }
  if (config.hostHeartbeatMs === 0 || config.hostGraceMs <= config.hostHeartbeatMs) {
    throw new FlagError(`--modules.heartbeat: must be greater than 0 and shorter than --modules.host-grace`);
  }
  if (config.rescanIntervalMs === 0) {
    throw new FlagError(`--metrics.rescan-interval: must be greater than 0`);
  }

  const [first, ...rest] = parsed.positionals;
  const target = values.target as string | undefined;
  if (target !== undefined && first !== "check" && !(first === "test" && values.record === true)) {
    throw new FlagError(
      `--target: only with check <module file>, which probes the module once, or test --record, which records a probe`,
    );
  }
  const testOnly = ["record", "update", "scenario", "format"].filter((name) => values[name] !== undefined);
  if (testOnly.length > 0 && first !== "test") {
    throw new FlagError(
      `--${testOnly[0]}: only with test <module file | dir>..., which runs modules against fixtures`,
    );
  }
  if (values["suggest-sandbox"] === true && first !== "check") {
    throw new FlagError(`--suggest-sandbox: only with check <module file>`);
  }
  if (first === undefined) return { kind: "run", config };
  if (first === "test") {
    if (rest.length === 0) throw new FlagError(`test: expects module files or dirs of modules with fixtures`);
    if (values.record === true && values.update === true) {
      throw new FlagError(`--record: writes the golden file of what it records; give it without --update`);
    }
    const scenario = values.scenario as string | undefined;
    if (scenario !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(scenario)) {
      throw new FlagError(`--scenario: "${scenario}" is not a folder name (letters, digits, . _ -)`);
    }
    return {
      kind: "test",
      paths: rest,
      config,
      test: {
        record: values.record === true,
        ...target === undefined ? {} : { probe: { target: nonEmpty("target", target) } },
        update: values.update === true,
        scenario,
        format: oneOf("format", flag("format"), REPORT_FORMATS),
      },
    };
  }
  if (first === "check") {
    if (rest.length !== 1) throw new FlagError(`check: expects exactly one module file, got ${rest.length}`);
    return {
      kind: "check",
      file: rest[0],
      config,
      ...target === undefined ? {} : { target: nonEmpty("target", target) },
      ...values["suggest-sandbox"] === true ? { suggestSandbox: true as const } : {},
    };
  }
  throw new FlagError(`unexpected argument ${JSON.stringify(first)}; see --help`);
}

function describeParseError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) {
    const near = nearestFlag(unknown[1]);
    return `unknown flag ${unknown[1]}; ${near ? `did you mean --${near}? ` : ""}see --help`;
  }
  const missing = /Option '(?:-\w, )?(--[^ ']+)[^']*' argument (?:missing|is ambiguous)/.exec(message);
  if (missing) return `${missing[1]}: needs a value`;
  const noValue = /Option '(--[^ ']+)' does not take an argument/.exec(message);
  if (noValue) return `${noValue[1]}: takes no value`;
  return message.split("\n")[0];
}

/**
 * The known flag closest to `given` (without its value), when it is close enough to be a typo:
 * `--metrics-dir` is `--metrics.dir` with one character changed.
 */
function nearestFlag(given: string): string | undefined {
  const name = given.replace(/^-+/, "").split("=")[0].toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const flag of Object.keys(FLAGS)) {
    const distance = editDistance(name, flag);
    if (distance < bestDistance) [best, bestDistance] = [flag, distance];
  }
  // A third of the name, at least 1 and at most 3 edits: closer than that is a typo, further a guess.
  return bestDistance <= Math.min(3, Math.max(1, Math.floor(name.length / 3))) ? best : undefined;
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

function nonEmpty(name: string, value: string): string {
  if (value === "") throw new FlagError(`--${name}: must not be empty`);
  return value;
}

/**
 * The longest rescan, idle and shutdown period: one timer's reach (24 days, below 2^31-1 ms).
 * Longer makes no sense for a safety net, and would overflow the timer (issue 8 item 4).
 */
const ONE_TIMER_MS = 24 * 24 * 3600_000;

function durationFlag(name: string, value: string, maxMs?: number): number {
  try {
    return parseDuration(value, maxMs);
  } catch (err) {
    throw new FlagError(`--${name}: ${(err as Error).message}`, { cause: err });
  }
}

function wholeNumber(name: string, value: string): number {
  if (!/^\d{1,9}$/.test(value)) {
    throw new FlagError(`--${name}: "${value}" is not a whole number (0 or more, below 10^9)`);
  }
  return Number(value);
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new FlagError(`--${name}: "${value}" is not one of ${allowed.join(", ")}`);
}

function parseTelemetryPath(value: string): string {
  if (!value.startsWith("/") || /[?#\s]/.test(value)) {
    throw new FlagError(`--web.telemetry-path: "${value}" must be a path starting with "/"`);
  }
  if (value === "/" || value.startsWith("/-/")) {
    throw new FlagError(`--web.telemetry-path: "${value}" collides with the landing page or /-/ endpoints`);
  }
  return value;
}

/** Parses `host:port`, `:port` or `[v6]:port`. */
export function parseListenAddress(value: string): ListenAddress {
  const bad = (why: string) => new FlagError(`--web.listen-address: "${value}" ${why}`);
  const match = /^(?:\[([^\]]*)\]|([^:\[\]]*)):(\d+)$/.exec(value);
  if (!match) throw bad("must be host:port, :port or [ipv6]:port");
  const port = Number(match[3]);
  if (port > 65535) throw bad("has a port above 65535");
  const hostname = match[1] ?? match[2];
  if (match[1] !== undefined && hostname === "") throw bad("has an empty IPv6 address");
  return { hostname, port };
}

/** `host:port` as a person would type it back, IPv6 in brackets. */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}
