/** Test helpers: the real exporter (main.ts) as a child process on a loopback port. */

import { fileURLToPath } from "node:url";
import { startFlags } from "../scripts/_start_flags.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The permission flags of `deno task start`, so tests run the exporter as users do. */
export const startTaskFlags: () => Promise<string[]> = startFlags;

export interface LogRecord {
  level: string;
  msg: string;
  [field: string]: unknown;
}

export interface Exporter {
  url: string;
  /** Every JSON log line so far. */
  logs: LogRecord[];
  /** Lines on stderr that were not JSON (a module's console output, say). */
  output: string[];
  process: Deno.ChildProcess;
  /** Sends `signal` and waits for the exit code. */
  stop(signal?: Deno.Signal): Promise<number>;
  waitForLog(match: (record: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
}

export interface StartOptions {
  metricsDir: string;
  args?: string[];
  env?: Record<string, string>;
  /** A compiled exporter to run instead of `deno run main.ts`. */
  binary?: string;
  /** A command the exporter runs under, such as `["setpriv", ...]`. */
  prefix?: string[];
}

/**
 * Starts main.ts with the start task's permissions (on 127.0.0.1:0, JSON logs at debug level
 * unless `args` say otherwise) and waits for `listening`.
 */
export async function startExporter(options: StartOptions): Promise<Exporter> {
  const args = options.args ?? [];
  // Defaults for what `args` does not set: the exporter refuses a flag given twice.
  const defaults = [
    "--web.listen-address=127.0.0.1:0",
    `--metrics.dir=${options.metricsDir}`,
    "--log.format=json",
    "--log.level=debug",
  ].filter((flag) => !args.some((arg) => arg.startsWith(flag.slice(0, flag.indexOf("=") + 1))));
  const command = [
    ...options.prefix ?? [],
    ...options.binary
      ? [options.binary]
      : [Deno.execPath(), "run", ...await startTaskFlags(), `${ROOT}/main.ts`],
  ];
  const process = new Deno.Command(command[0], {
    args: [...command.slice(1), ...defaults, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1", ...options.env },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const { logs, output, reading } = readLogs(process.stderr);
  const status = process.status;
  const waitForLog = async (match: (r: LogRecord) => boolean, timeoutMs = 10_000) => {
    let found: LogRecord | undefined;
    await waitFor(() => (found = logs.find(match)) !== undefined, {
      timeoutMs,
      message: () => `no matching log line; logs:\n${logs.map((l) => JSON.stringify(l)).join("\n")}`,
    });
    return found!;
  };
  let listening: LogRecord;
  try {
    listening = await waitForLog((r) => r.msg === "listening");
  } catch (err) {
    try {
      process.kill("SIGKILL");
    } catch { /* already gone */ }
    await status;
    await reading;
    throw new Error(`exporter did not start: ${output.join("\n")}`, { cause: err });
  }
  let stopped: Promise<number> | undefined;
  return {
    url: `${listening.tls ? "https" : "http"}://${listening.address}`,
    logs,
    output,
    process,
    waitForLog,
    stop(signal: Deno.Signal = "SIGTERM") {
      stopped ??= (async () => {
        // A SIGKILLed server cannot stop its module hosts: the test does.
        const hosts = signal === "SIGKILL" ? await descendants(process.pid) : [];
        try {
          process.kill(signal);
        } catch { /* already exited */ }
        for (const pid of hosts) killPid(pid);
        const { code } = await status;
        await reading;
        return code;
      })();
      return stopped;
    },
  };
}

/**
 * Reads a process's stderr as it comes: JSON log lines into `logs`, other lines into
 * `output`; `reading` settles when the stream ends.
 */
export function readLogs(
  stderr: ReadableStream<Uint8Array>,
): { logs: LogRecord[]; output: string[]; reading: Promise<void> } {
  const logs: LogRecord[] = [];
  const output: string[] = [];
  const reading = (async () => {
    const lines = stderr.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter());
    for await (const line of lines) {
      try {
        logs.push(JSON.parse(line));
      } catch {
        output.push(line);
      }
    }
  })();
  return { logs, output, reading };
}

function lineSplitter(): TransformStream<string, string> {
  let buffer = "";
  return new TransformStream({
    transform(chunk, controller) {
      buffer += chunk;
      const lines = buffer.split("\n");
      buffer = lines.pop()!;
      for (const line of lines) if (line !== "") controller.enqueue(line);
    },
    flush(controller) {
      if (buffer !== "") controller.enqueue(buffer);
    },
  });
}

/**
 * The pids of every living descendant of `pid` (its module hosts), from `ps`: Deno reads
 * nothing under /proc without --allow-all.
 */
export async function descendants(pid: number): Promise<number[]> {
  const { stdout } = await new Deno.Command("ps", { args: ["-eo", "pid=,ppid="], stdout: "piped" }).output();
  const parents = new Map<number, number>();
  for (const line of new TextDecoder().decode(stdout).split("\n")) {
    const [child, parent] = line.trim().split(/\s+/).map(Number);
    if (Number.isFinite(child) && Number.isFinite(parent)) parents.set(child, parent);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}

/** The `/proc/<pid>/stat` lines of `pids` that still exist (read with `cat`: Deno reads nothing under /proc without --allow-all). */
export async function procStats(pids: number[]): Promise<Map<number, string[]>> {
  const out = new Map<number, string[]>();
  for (const pid of pids) {
    const { stdout, success } = await new Deno.Command("cat", {
      args: [`/proc/${pid}/stat`],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    if (!success) continue;
    const stat = new TextDecoder().decode(stdout);
    out.set(pid, stat.slice(stat.lastIndexOf(")") + 2).split(" "));
  }
  return out;
}

/** SIGKILLs `pid`, if it is still there. */
export function killPid(pid: number): void {
  try {
    Deno.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/** Polls `check` until it returns true (or stops throwing), failing after `timeoutMs`. */
export async function waitFor(
  check: () => boolean | Promise<boolean>,
  options: { timeoutMs?: number; intervalMs?: number; message?: () => string } = {},
): Promise<void> {
  const deadline = performance.now() + (options.timeoutMs ?? 10_000);
  let last: unknown;
  while (true) {
    try {
      if (await check()) return;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) {
      throw new Error(
        `timed out after ${options.timeoutMs ?? 10_000}ms: ${options.message?.() ?? ""}`,
        { cause: last },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 25));
  }
}

/**
 * Lets `ms` pass. Only for a window in which a test asserts that nothing happens (no further
 * run, no change); waiting for something to happen goes through waitFor.
 */
export function observationWindow(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Parses an exposition into `name{labels}` -> value, the labels as written. */
export function parseSamples(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    const value = line.slice(space + 1);
    samples.set(line.slice(0, space), value === "NaN" ? NaN : Number(value));
  }
  return samples;
}

/** GETs the telemetry path and parses it; `client` for TLS with a test CA. */
export async function scrape(
  url: string,
  headers: HeadersInit = {},
  client?: Deno.HttpClient,
): Promise<Map<string, number>> {
  const response = await fetch(`${url}/metrics`, { headers, client });
  if (response.status !== 200) throw new Error(`scrape: ${response.status} ${await response.text()}`);
  return parseSamples(await response.text());
}

/**
 * Scrapes and keeps the slowest time, so that a test polling with waitFor (which retries on a
 * throw) can still assert on every scrape afterwards.
 */
export class ScrapeTimer {
  slowestMs = 0;
  constructor(readonly url: string) {}

  async scrape(): Promise<Map<string, number>> {
    const start = performance.now();
    const samples = await scrape(this.url);
    this.slowestMs = Math.max(this.slowestMs, performance.now() - start);
    return samples;
  }
}

/** Polls /metrics until `sample` has `value` (or, with undefined, is absent). */
export async function waitForSample(
  url: string,
  sample: string,
  value: number | undefined,
  timeoutMs = 10_000,
): Promise<Map<string, number>> {
  let samples = new Map<string, number>();
  await waitFor(async () => {
    samples = await scrape(url);
    return samples.get(sample) === value;
  }, {
    timeoutMs,
    message: () => `${sample} is ${samples.get(sample)}, want ${value}\n${[...samples].join("\n")}`,
  });
  return samples;
}

/** A fresh temp metrics dir, removed by the returned disposer. */
export async function tempMetricsDir(files: Record<string, string> = {}): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "dx_metrics_" });
  for (const [name, content] of Object.entries(files)) {
    const path = `${dir}/${name}`;
    await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(path, content);
  }
  return dir;
}

/** A module whose gauge `name` counts its runs, so a test can see it keep running. */
export function tickingModule(name: string, interval = "100ms"): string {
  return `import { Gauge } from "prom-client";
const g = new Gauge({ name: "${name}", help: "runs of ${name}" });
let runs = 0;
export const interval = "${interval}";
export function process() { g.set(++runs); }
`;
}

/** Waits until `sample` exceeds `floor`; returns its value. */
export async function waitAbove(
  url: string,
  sample: string,
  floor: number,
  timeoutMs = 10_000,
): Promise<number> {
  let value = NaN;
  await waitFor(async () => (value = (await scrape(url)).get(sample) ?? NaN) > floor, {
    timeoutMs,
    message: () => `${sample} is ${value}, want more than ${floor}`,
  });
  return value;
}

/** A module that sets gauge `name` to `value`. */
export function gaugeModule(name: string, value: number, extra = ""): string {
  return `import { Gauge } from "prom-client";
const g = new Gauge({ name: "${name}", help: "test gauge ${name}" });
export function process() { g.set(${value}); }
${extra}
`;
}

/** Runs `fn` against an exporter on a fresh metrics dir holding `files`, then stops it and cleans up. */
export async function withExporter(
  files: Record<string, string>,
  fn: (exporter: Exporter, dir: string) => Promise<void>,
  options: Omit<StartOptions, "metricsDir"> = {},
): Promise<void> {
  const dir = await tempMetricsDir(files);
  const exporter = await startExporter({ metricsDir: dir, ...options });
  try {
    await fn(exporter, dir);
  } finally {
    await exporter.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Runs `deno task <args>` in the checkout, as users run it; its exit code and whole output. */
export async function runTask(
  args: string[],
  env: Record<string, string> = {},
  options: { deadlineMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { deadlineMs = 120_000 } = options;
  // A task that hangs fails its test instead of holding the suite (deno task passes SIGTERM on).
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), deadlineMs);
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", ...args],
      cwd: ROOT,
      env: { NO_COLOR: "1", ...env },
      stdout: "piped",
      stderr: "piped",
      signal: controller.signal,
    }).output();
  } finally {
    clearTimeout(timer);
  }
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  const { code, stdout, stderr } = output;
  if (controller.signal.aborted) {
    throw new Error(
      `deno task ${args.join(" ")} did not end within ${deadlineMs}ms:\n${text(stdout)}${text(stderr)}`,
    );
  }
  return { code, stdout: text(stdout), stderr: text(stderr) };
}
