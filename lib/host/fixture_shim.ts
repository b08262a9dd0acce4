/**
 * A module host's side of `test-module` (issue 19), installed only in a host started with
 * `--fixtures=record|replay`, before any module loads. It stands in front of what a module
 * asks its backend: `fetch`, `Deno.Command`, Deno's file reads (readTextFile, readFile, stat,
 * lstat and their Sync forms), `Deno.env.get` and the clock.
 *
 * Recording calls the real thing and keeps what came back, credentials masked (lib/redact.ts).
 * Replaying serves a run's fixture (lib/testing/fixture.ts) and nothing else: a call the fixture
 * does not hold fails with a message naming it. The replaying host also holds no net, run or
 * write permission and reads only the module's own files (lib/testing/test_module.ts), so what
 * this shim does not cover (node:fs, node:child_process, Deno.connect) fails on a permission.
 */

import { Buffer } from "node:buffer";
import { relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { redactField, redactSecrets } from "../redact.ts";
import type { FetchExchange, FileEntry, RunFixture } from "../testing/fixture.ts";

export type FixtureMode = "record" | "replay";

/** The most a recording keeps of bodies, outputs and files together: its reply is one frame. */
export const MAX_RECORDED_BYTES = 12 * 1024 * 1024;
/** Clock readings a recording keeps; a replay repeats the last one past them. */
const MAX_CLOCK_READINGS = 1000;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** `bytes` as fixture text: UTF-8 when it is, else base64. */
function bodyOf(bytes: Uint8Array): { body?: string; base64?: string } {
  try {
    return { body: utf8.decode(bytes) };
  } catch {
    return { base64: Buffer.from(bytes).toString("base64") };
  }
}

function bytesOf(entry: { body?: string; text?: string; base64?: string }): Uint8Array<ArrayBuffer> {
  if (entry.base64 !== undefined) return new Uint8Array(Buffer.from(entry.base64, "base64"));
  return new TextEncoder().encode(entry.body ?? entry.text ?? "");
}

function maskedHeaders(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => out[name] = redactField(name, value));
  return out;
}

/** The error class Deno throws for `name` ("NotFound"), or Error. */
function denoError(name: string, message: string): Error {
  const Class = (Deno.errors as unknown as Record<string, new (m: string) => Error>)[name] ?? Error;
  return new Class(message);
}

function fileInfo(stat: NonNullable<FileEntry["stat"]>): Deno.FileInfo {
  return {
    isFile: stat.isFile,
    isDirectory: stat.isDirectory,
    isSymlink: false,
    size: stat.size,
    mtime: stat.mtime === undefined ? null : new Date(stat.mtime),
    atime: null,
    birthtime: null,
    ctime: null,
    dev: 0,
    ino: null,
    mode: stat.mode ?? null,
    nlink: null,
    uid: null,
    gid: null,
    rdev: null,
    blksize: null,
    blocks: null,
    isBlockDevice: null,
    isCharDevice: null,
    isFifo: null,
    isSocket: null,
  };
}

/** What a spawned command looks like to the module, made from its whole output. */
function childOf(output: Promise<Deno.CommandOutput>): Deno.ChildProcess {
  const stream = (pick: (o: Deno.CommandOutput) => Uint8Array) =>
    new ReadableStream<Uint8Array<ArrayBuffer>>({
      async start(controller) {
        try {
          controller.enqueue(new Uint8Array(pick(await output)));
          controller.close();
        } catch (err) {
          controller.error(err);
        }
      },
    });
  const child = {
    pid: 0,
    stdin: new WritableStream<Uint8Array>(),
    stdout: stream((o) => o.stdout),
    stderr: stream((o) => o.stderr),
    status: output.then(({ code, success, signal }) => ({ code, success, signal })),
    output: () => output,
    kill() {},
    ref() {},
    unref() {},
    [Symbol.asyncDispose]: async () => void await output.catch(() => {}),
  };
  return child as unknown as Deno.ChildProcess;
}

/** A real child whose output is recorded: the module reads one copy of its streams, `output` the other. */
function recordedChild(
  child: Deno.ChildProcess,
  stdout: ReadableStream<Uint8Array<ArrayBuffer>>,
  stderr: ReadableStream<Uint8Array<ArrayBuffer>>,
  output: Promise<Deno.CommandOutput>,
): Deno.ChildProcess {
  return {
    pid: child.pid,
    get stdin() {
      return child.stdin;
    },
    stdout,
    stderr,
    status: child.status,
    output: () => {
      // The module's copies go unread: let them go rather than buffer them.
      stdout.cancel().catch(() => {});
      stderr.cancel().catch(() => {});
      return output;
    },
    kill: (signal?: Deno.Signal) => child.kill(signal),
    ref: () => child.ref(),
    unref: () => child.unref(),
    [Symbol.asyncDispose]: async () => void await output.catch(() => {}),
  } as unknown as Deno.ChildProcess;
}

/** A run's fixture with every field present. */
type Recording = Required<Omit<RunFixture, "clock" | "probe">> & { clock: number[] };

function emptyRecording(): Recording {
  return { clock: [], monotonic: [], fetch: [], commands: [], files: {}, env: {} };
}

export class FixtureShim {
  readonly mode: FixtureMode;
  #label = "this run";
  /** The module's dir: files under it are named relative to it, so fixtures move with the module. */
  #base = "/";
  #replay: Recording = emptyRecording();
  /** How many times each fetch and command key has been answered in this run. */
  #used = new Map<string, number>();
  #recording: Recording = emptyRecording();
  #recordedBytes = 0;
  #overflow: string | undefined;
  #clockRead = 0;
  #monotonicRead = 0;
  /** The run's fetch answers by "METHOD url", in order: a run of thousands of fetches looks each up once. */
  #fetchIndex = new Map<string, FetchExchange[]>();

  constructor(mode: FixtureMode) {
    this.mode = mode;
  }

  /**
   * Starts the next run, labelled `label` in messages, of a module in `base`: replaying, it serves `fixture`;
   * recording, it hands back what was recorded since the last call.
   */
  next(label: string, base: string, fixture?: RunFixture): RunFixture | undefined {
    this.#label = label;
    this.#base = base;
    this.#used.clear();
    this.#clockRead = 0;
    this.#monotonicRead = 0;
    if (this.mode === "replay") {
      const clock = fixture?.clock;
      this.#replay = {
        clock: clock === undefined ? [] : Array.isArray(clock) ? clock : [clock],
        monotonic: fixture?.monotonic ?? [],
        fetch: fixture?.fetch ?? [],
        commands: fixture?.commands ?? [],
        files: fixture?.files ?? {},
        env: fixture?.env ?? {},
      };
      this.#fetchIndex = Map.groupBy(this.#replay.fetch, (f) => `${f.method} ${new URL(f.url).href}`);
      return undefined;
    }
    if (this.#overflow) throw new Error(this.#overflow);
    const recorded = this.#recording;
    this.#recording = emptyRecording();
    this.#recordedBytes = 0;
    return recorded;
  }

  /** Puts the shim in front of fetch, Deno.Command, the file reads, Deno.env.get and the clock. */
  install(): void {
    this.#installFetch();
    this.#installCommand();
    this.#installFiles();
    this.#installEnv();
    this.#installClock();
  }

  /** A file's name in fixtures: `./<path>` under the module's dir, else its absolute path. */
  #pathOf(path: string | URL): string {
    const absolute = resolve(path instanceof URL ? fileURLToPath(path) : String(path));
    const base = this.#base.endsWith(sep) ? this.#base : this.#base + sep;
    return absolute.startsWith(base) ? `./${relative(this.#base, absolute)}` : absolute;
  }

  #keep(bytes: number): void {
    this.#recordedBytes += bytes;
    if (this.#recordedBytes > MAX_RECORDED_BYTES && !this.#overflow) {
      this.#overflow = `the run read more than ${MAX_RECORDED_BYTES} bytes from its backend, ` +
        `over what one fixture holds`;
    }
  }

  #missing(what: string): string {
    return `test-module: the fixture of ${this.#label} has no ${what} ` +
      `(record it with --record, or add it to the fixture)`;
  }

  /** The next answer for `key` among `candidates`: each in turn, the last one again past them. */
  #take<T>(key: string, candidates: T[]): T | undefined {
    if (candidates.length === 0) return undefined;
    const i = this.#used.get(key) ?? 0;
    this.#used.set(key, i + 1);
    return candidates[Math.min(i, candidates.length - 1)];
  }

  #installFetch(): void {
    const real = globalThis.fetch;
    globalThis.fetch = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const request = input instanceof Request ? input : undefined;
      const method = (init?.method ?? request?.method ?? "GET").toUpperCase();
      const url = new URL(request ? request.url : String(input)).href;
      const signal = init?.signal ?? request?.signal;
      if (this.mode === "replay") {
        // A recorded URL has its credentials masked: the request's, masked the same way, matches it.
        const masked = redactSecrets(url);
        const candidates = this.#fetchIndex.get(`${method} ${url}`) ??
          this.#fetchIndex.get(`${method} ${masked}`) ?? [];
        const exchange = this.#take(`${method} ${url}`, candidates);
        if (!exchange) throw new TypeError(this.#missing(`answer for ${method} ${url}`));
        if (exchange.hang) {
          return await new Promise<never>((_, reject) => {
            if (signal?.aborted) reject(signal.reason);
            signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
          });
        }
        if (exchange.error !== undefined) throw new TypeError(exchange.error);
        const r = exchange.response!;
        const empty = [204, 205, 304].includes(r.status);
        const response = new Response(empty ? null : bytesOf(r), {
          status: r.status,
          statusText: r.statusText,
          headers: r.headers,
        });
        // A made Response has url "": a module resolving a link against it, or checking where a
        // redirect led, gets what the real fetch gave.
        Object.defineProperties(response, {
          url: { value: r.url ?? url },
          redirected: { value: r.url !== undefined },
        });
        return response;
      }
      const exchange: FetchExchange = {
        method,
        url: redactSecrets(url),
        headers: maskedHeaders(new Headers(init?.headers ?? request?.headers)),
      };
      this.#recording.fetch.push(exchange);
      try {
        const response = await real(input, init);
        const bytes = new Uint8Array(await response.clone().arrayBuffer());
        this.#keep(bytes.length);
        exchange.response = {
          status: response.status,
          ...response.statusText ? { statusText: response.statusText } : {},
          headers: maskedHeaders(response.headers),
          ...response.redirected ? { url: redactSecrets(response.url) } : {},
          ...bodyOf(bytes),
        };
        return response;
      } catch (err) {
        if (signal?.aborted) exchange.hang = true;
        else exchange.error = (err as Error)?.message ?? String(err);
        throw err;
      }
    };
  }

  #installCommand(): void {
    const RealCommand = Deno.Command;
    // deno-lint-ignore no-this-alias
    const shim = this;
    const answer = (command: string, args: string[]): Deno.CommandOutput => {
      const key = JSON.stringify([command, ...args]);
      const candidates = shim.#replay.commands.filter((c) => JSON.stringify([c.command, ...c.args]) === key);
      const exchange = shim.#take(key, candidates);
      if (!exchange) {
        throw new Deno.errors.NotFound(
          shim.#missing(`output for the command ${[command, ...args].join(" ")}`),
        );
      }
      const stdout = bytesOf({ text: exchange.stdout });
      const stderr = bytesOf({ text: exchange.stderr ?? "" });
      return { code: exchange.code, success: exchange.code === 0, signal: null, stdout, stderr } as never;
    };
    const record = (command: string, args: string[], output: Deno.CommandOutput): Deno.CommandOutput => {
      this.#keep(output.stdout.length + output.stderr.length);
      const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
      this.#recording.commands.push({
        command,
        args,
        code: output.code,
        stdout: text(output.stdout),
        stderr: text(output.stderr),
      });
      return output;
    };
    class FixtureCommand {
      readonly #command: string;
      readonly #args: string[];
      readonly #real: Deno.Command;
      constructor(command: string | URL, options: Deno.CommandOptions = {}) {
        this.#command = command instanceof URL ? fileURLToPath(command) : String(command);
        this.#args = [...options.args ?? []].map(String);
        this.#real = new RealCommand(command, { ...options, stdout: "piped", stderr: "piped" });
      }
      output(): Promise<Deno.CommandOutput> {
        if (shim.mode === "replay") {
          try {
            return Promise.resolve(answer(this.#command, this.#args));
          } catch (err) {
            return Promise.reject(err);
          }
        }
        return this.#real.output().then((o) => record(this.#command, this.#args, o));
      }
      outputSync(): Deno.CommandOutput {
        if (shim.mode === "replay") return answer(this.#command, this.#args);
        return record(this.#command, this.#args, this.#real.outputSync());
      }
      /**
       * A spawned command is answered whole in a replay: fixtures hold outputs, not conversations
       * (what it was fed on stdin is not kept). Recording, the real child runs, fed as the module
       * feeds it: output() refuses piped stdin, so its output is kept from copies of its streams.
       */
      spawn(): Deno.ChildProcess {
        if (shim.mode === "replay") return childOf(this.output());
        const child = this.#real.spawn();
        const [stdout, keptOut] = child.stdout.tee();
        const [stderr, keptErr] = child.stderr.tee();
        const output = Promise.all([
          child.status,
          new Response(keptOut).bytes(),
          new Response(keptErr).bytes(),
        ]).then(([status, out, err]) =>
          record(this.#command, this.#args, { ...status, stdout: out, stderr: err } as Deno.CommandOutput)
        );
        return recordedChild(child, stdout, stderr, output);
      }
    }
    Object.defineProperty(Deno, "Command", { value: FixtureCommand, configurable: true, writable: true });
  }

  #installFiles(): void {
    const d = Deno as unknown as Record<string, (...args: unknown[]) => unknown>;
    const entryFor = (path: string | URL): [string, FileEntry] => {
      const absolute = this.#pathOf(path);
      const entry = this.#replay.files[absolute];
      if (!entry) throw new Deno.errors.NotFound(this.#missing(`file ${absolute}`));
      if (entry.error) throw denoError(entry.error.name, entry.error.message);
      return [absolute, entry];
    };
    const recordedEntry = (path: string | URL): FileEntry => this.#recording.files[this.#pathOf(path)] ??= {};
    const failed = (path: string | URL, err: unknown) => {
      const e = err as Error;
      recordedEntry(path).error = { name: e?.name ?? "Error", message: e?.message ?? String(err) };
      return err;
    };
    const content = (path: string | URL, bytes: Uint8Array) => {
      this.#keep(bytes.length);
      const { body, base64 } = bodyOf(bytes);
      Object.assign(recordedEntry(path), body === undefined ? { base64 } : { text: body });
    };
    const stat = (path: string | URL, info: Deno.FileInfo) => {
      recordedEntry(path).stat = {
        isFile: info.isFile,
        isDirectory: info.isDirectory,
        size: info.size,
        ...info.mtime ? { mtime: info.mtime.getTime() } : {},
        ...info.mode === null ? {} : { mode: info.mode },
      };
    };
    const readBytes = (path: string | URL): Uint8Array => {
      const [absolute, entry] = entryFor(path);
      if (entry.text === undefined && entry.base64 === undefined) {
        throw new Deno.errors.NotFound(this.#missing(`content of the file ${absolute} (only its stat)`));
      }
      return bytesOf(entry);
    };
    const statOf = (path: string | URL): Deno.FileInfo => {
      const [absolute, entry] = entryFor(path);
      if (entry.stat) return fileInfo(entry.stat);
      if (entry.text === undefined && entry.base64 === undefined) {
        throw new Deno.errors.NotFound(this.#missing(`stat of the file ${absolute}`));
      }
      return fileInfo({ isFile: true, isDirectory: false, size: bytesOf(entry).length });
    };
    const wrap = (
      name: string,
      replay: (path: string | URL) => unknown,
      keep: (path: string | URL, result: never) => void,
    ) => {
      const real = d[name];
      const sync = name.endsWith("Sync");
      const fn = (path: string | URL, ...rest: unknown[]) => {
        if (this.mode === "replay") {
          if (sync) return replay(path);
          try {
            return Promise.resolve(replay(path));
          } catch (err) {
            return Promise.reject(err);
          }
        }
        if (sync) {
          try {
            const result = real(path, ...rest);
            keep(path, result as never);
            return result;
          } catch (err) {
            throw failed(path, err);
          }
        }
        return (real(path, ...rest) as Promise<unknown>).then(
          (result) => (keep(path, result as never), result),
          (err) => Promise.reject(failed(path, err)),
        );
      };
      Object.defineProperty(Deno, name, { value: fn, configurable: true, writable: true });
    };
    const text = new TextEncoder();
    for (const name of ["readFile", "readFileSync"]) wrap(name, readBytes, content);
    for (const name of ["readTextFile", "readTextFileSync"]) {
      wrap(name, (p) => new TextDecoder().decode(readBytes(p)), (p, t: string) => content(p, text.encode(t)));
    }
    for (const name of ["stat", "statSync", "lstat", "lstatSync"]) wrap(name, statOf, stat);
  }

  #installEnv(): void {
    const env = Deno.env;
    const real = env.get.bind(env);
    Object.defineProperty(env, "get", {
      configurable: true,
      writable: true,
      value: (name: string): string | undefined => {
        if (this.mode === "replay") {
          if (Object.hasOwn(this.#replay.env, name)) return this.#replay.env[name] ?? undefined;
          return real(name);
        }
        const value = real(name);
        this.#recording.env[name] = value === undefined ? null : redactField(name, value);
        return value;
      },
    });
  }

  /**
   * Date.now(), `new Date()` and performance.now(): a recording keeps each reading, a replay
   * gives them back in order (the last one again past them), so an age or a duration computed
   * from a clock is the same.
   */
  #installClock(): void {
    const RealDate = Date;
    // deno-lint-ignore no-this-alias
    const shim = this;
    const read = (): number => {
      if (shim.mode === "replay") {
        const clock = shim.#replay.clock;
        if (clock.length === 0) return RealDate.now();
        return clock[Math.min(shim.#clockRead++, clock.length - 1)];
      }
      const now = RealDate.now();
      if (shim.#recording.clock.length < MAX_CLOCK_READINGS) shim.#recording.clock.push(now);
      return now;
    };
    // A proxy, not a subclass: `Date()` called without `new` must still answer (a string).
    globalThis.Date = new Proxy(RealDate, {
      construct: (target, args, newTarget) =>
        Reflect.construct(target, args.length === 0 ? [read()] : args, newTarget),
      apply: () => new RealDate(read()).toString(),
      get: (target, key, receiver) => key === "now" ? read : Reflect.get(target, key, receiver),
    });
    const realNow = performance.now.bind(performance);
    Object.defineProperty(performance, "now", {
      configurable: true,
      writable: true,
      value: (): number => {
        if (shim.mode === "replay") {
          const readings = shim.#replay.monotonic;
          if (readings.length === 0) return realNow();
          return readings[Math.min(shim.#monotonicRead++, readings.length - 1)];
        }
        const now = realNow();
        if (shim.#recording.monotonic.length < MAX_CLOCK_READINGS) shim.#recording.monotonic.push(now);
        return now;
      },
    });
  }
}
