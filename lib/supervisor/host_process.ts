/**
 * One module host process as the server sees it: the child, the frames to and from it, the
 * requests waiting for answers, its heartbeat, its memory, and how it ended.
 *
 * The rule that kills a host (issue 21): it is silent (no frame, pongs included) for longer
 * than the grace, and longer than the grace past the deadline of every call it has in flight.
 * A call inside its timeout may hold the host's thread (a synchronous loop is interrupted by
 * node:vm's watchdog at the timeout, inside the host, which then answers again); past that, a
 * silent host is in a loop after an await or a long native call, and SIGKILL is the only stop.
 */

import { encodeFrame, FrameDecoder, FrameError, type FromHost, type ToHost } from "../host_protocol.ts";
import type { Logger } from "../log.ts";
import { formatDuration } from "../duration.ts";

type Reply<T extends FromHost["type"]> = Extract<FromHost, { type: T }>;

export interface HostCommand {
  command: string;
  args: string[];
  /** Added to the environment the host inherits. */
  env?: Record<string, string>;
}

export interface HostProcessOptions {
  /** "shared", or the module's name: for the log and the self-metrics. */
  label: string;
  command: HostCommand;
  log: Logger;
  heartbeatMs: number;
  graceMs: number;
  /** Kill past this RSS over the host's own idle RSS (0: no bound). */
  memoryBytes: number;
  /** A line of the host's stderr; true when it was the caller's, which is then not logged. */
  onStderrLine?(line: string): boolean;
}

/** How a host ended. */
export interface HostDeath {
  /** For the log, the status page and the restarts counter's `reason`: `out of memory (exit 133)`. */
  reason: string;
  /** The `reason` label: silent, memory, out_of_memory, exited, protocol, start, retired. */
  kind: "silent" | "memory" | "out_of_memory" | "exited" | "protocol" | "start" | "retired";
  /** The modules whose calls had not settled, probes and dispose() calls left out. */
  suspects: string[];
  /**
   * The modules whose retired version's dispose() had not settled (and no other call of theirs):
   * the death is that old version's doing, never held against the version now loaded.
   */
  disposing: string[];
  /**
   * The probes (and validateTarget() calls) that had not settled, by module and target: a death
   * during one is blamed on its target, not on the module (issue 20).
   */
  probes: { module: string; target: string }[];
}

interface Waiter {
  type: FromHost["type"];
  resolve(message: FromHost): void;
  reject(err: Error): void;
  /** The module the call runs code of, blamed if the host dies meanwhile. */
  suspect?: string;
  /** The probe target the call is for: blamed instead of the module. */
  target?: string;
  /** performance.now() past which the call is late (its timeout). */
  until: number;
  timeoutMs: number;
  /** The host began the call (its module code may be what holds the host). */
  started: boolean;
}

/** A call whose host ended before it answered; `begun` when the host had started it. */
export class HostGoneError extends Error {
  override name = "HostGoneError";
  constructor(message: string, readonly begun: boolean) {
    super(message);
  }
}

/** How long a host may take to answer its first ping. */
const START_TIMEOUT_MS = 30_000;
/** The longest stderr a death keeps to say why (V8's out-of-memory message). */
const STDERR_TAIL = 4096;
/** Lines of a host's stderr logged per second; the rest are counted. */
const STDERR_LINES_PER_SECOND = 50;

export class HostProcess {
  readonly label: string;
  readonly #options: HostProcessOptions;
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #waiting = new Map<number, Waiter>();
  #nextId = 1;
  #lastSign = performance.now();
  #death: HostDeath | undefined;
  #killing: Omit<HostDeath, "suspects" | "disposing" | "probes"> | undefined;
  /** retire() let it go: its exit is the one asked for, not a death to restart and back off from. */
  #retiring = false;
  #timer: ReturnType<typeof setInterval>;
  #stderrTail = "";
  #idleRss: number | undefined;
  #rss: number | undefined;
  readonly #stderrRead: Promise<void>;
  readonly #ready = Promise.withResolvers<void>();
  readonly #ended = Promise.withResolvers<HostDeath>();
  /** Receives log and uncaught messages. */
  onMessage: (message: FromHost) => void = () => {};
  /** Imports since the host started, and the signature of each helper file it imported then. */
  reloads = 0;
  readonly helperSignatures = new Map<string, string>();
  readonly startedAt = performance.now();

  constructor(options: HostProcessOptions) {
    this.label = options.label;
    this.#options = options;
    this.#child = new Deno.Command(options.command.command, {
      args: options.command.args,
      env: options.command.env,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
    this.#timer = setInterval(() => this.#tick(), options.heartbeatMs);
    this.#read();
    this.#stderrRead = this.#readStderr();
    this.#child.status.then((status) => this.#exited(status));
    this.request({ type: "ping", id: this.nextId() }, "pong", { timeoutMs: START_TIMEOUT_MS }).then(
      () => {
        this.#idleRss = this.#rss ?? 0;
        this.#lastSign = performance.now();
        this.#ready.resolve();
      },
      (err) => this.#ready.reject(err),
    );
    this.#ready.promise.catch(() => {});
    const startTimer = setTimeout(() => {
      if (this.#idleRss === undefined) {
        this.kill({ kind: "start", reason: `did not start within ${formatDuration(START_TIMEOUT_MS)}` });
      }
    }, START_TIMEOUT_MS);
    this.#ended.promise.finally(() => clearTimeout(startTimer));
  }

  get pid(): number {
    return this.#child.pid;
  }

  get alive(): boolean {
    return this.#death === undefined && this.#killing === undefined;
  }

  /** Settles when the host answered its first ping; rejects if it died first. */
  get ready(): Promise<void> {
    return this.#ready.promise;
  }

  /**
   * Settles once the host's stderr has reached its end: every line it wrote has been handled.
   * A process the host started can hold the pipe open past the host's death: bound the wait.
   */
  get stderrRead(): Promise<void> {
    return this.#stderrRead;
  }

  /** Settles with how the host ended. */
  get ended(): Promise<HostDeath> {
    return this.#ended.promise;
  }

  nextId(): number {
    return this.#nextId++;
  }

  /**
   * Sends `message` and waits for the reply of type `type` with the same id. `timeoutMs`: how
   * long the call may hold the host's thread before silence counts against it; `suspect`: the
   * module blamed if the host dies before the reply; `target`: for a probe, the target blamed
   * instead.
   */
  request<T extends FromHost["type"]>(
    message: ToHost,
    type: T,
    options: { timeoutMs?: number; suspect?: string; target?: string } = {},
  ): Promise<Reply<T>> {
    if (!this.alive) return Promise.reject(new Error(`its host ${this.#death?.reason ?? "is gone"}`));
    const reply = new Promise<FromHost>((resolve, reject) =>
      this.#waiting.set(message.id, {
        type,
        resolve,
        reject,
        suspect: options.suspect,
        target: options.target,
        // A call still queued behind a busy host extends nothing: only a begun call's timeout does.
        until: message.type === "page" ? performance.now() + (options.timeoutMs ?? 0) : 0,
        timeoutMs: options.timeoutMs ?? 0,
        started: message.type === "page",
      })
    );
    this.send(message);
    return reply as Promise<Reply<T>>;
  }

  /** Sends `message` without waiting for a reply. */
  send(message: ToHost): void {
    if (!this.alive) return;
    this.#writer.write(encodeFrame(message)).catch(() => {});
  }

  /**
   * The host's resident memory in bytes, as its last pong said (Deno lets the server read
   * nothing under /proc without --allow-all); undefined once it is gone.
   */
  rss(): number | undefined {
    return this.alive ? this.#rss : undefined;
  }

  /** Ends the host with SIGKILL, for `why`; what waits on it fails with the reason. */
  kill(why: Omit<HostDeath, "suspects" | "disposing" | "probes">): void {
    if (!this.alive) return;
    this.#killing = why;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // Already gone: its status settles the death.
    }
  }

  /**
   * Lets the host go: it exits once its stdin closes, after the calls in flight settle (up to
   * `graceMs`), and is killed past that.
   */
  async retire(graceMs: number): Promise<void> {
    if (!this.alive) return;
    this.#retiring = true;
    const calls = [...this.#waiting.values()].map((w) =>
      new Promise<void>((resolve) => {
        const { resolve: done, reject } = w;
        w.resolve = (m) => (done(m), resolve());
        w.reject = (e) => (reject(e), resolve());
      })
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all(calls),
      new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
    ]);
    clearTimeout(timer);
    this.#writer.close().catch(() => {});
    let killTimer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#ended.promise,
      new Promise<void>((resolve) =>
        killTimer = setTimeout(() => {
          this.kill({ kind: "retired", reason: "was retired and did not exit" });
          resolve();
        }, this.#options.graceMs)
      ),
    ]);
    clearTimeout(killTimer);
    await this.#ended.promise;
  }

  #tick(): void {
    // Until its first pong, a host is starting (START_TIMEOUT_MS bounds that), not silent.
    if (!this.alive || this.#idleRss === undefined) return;
    const now = performance.now();
    let until = this.#lastSign;
    for (const waiter of this.#waiting.values()) until = Math.max(until, waiter.until);
    if (now - until > this.#options.graceMs && now - this.#lastSign > this.#options.graceMs) {
      this.kill({
        kind: "silent",
        reason: `stopped answering for ${formatDuration(Math.round(now - this.#lastSign))} ` +
          `(a loop after an await, or a long native call?)`,
      });
      return;
    }
    const budget = this.#options.memoryBytes;
    if (budget > 0 && this.#idleRss !== undefined) {
      const rss = this.#rss;
      if (rss !== undefined && rss > budget + this.#idleRss) {
        const mb = (n: number) => `${Math.round(n / 1e6)} MB`;
        this.kill({
          kind: "memory",
          reason: `used ${mb(rss)} of memory, over its budget of ${mb(budget)} (plus ${
            mb(this.#idleRss)
          } the host uses idle)`,
        });
        return;
      }
    }
    this.send({ type: "ping", id: this.nextId() });
  }

  async #read(): Promise<void> {
    const decoder = new FrameDecoder();
    try {
      for await (const chunk of this.#child.stdout) {
        this.#lastSign = performance.now();
        let messages: unknown[];
        try {
          messages = decoder.push(chunk);
        } catch (err) {
          if (err instanceof FrameError) {
            this.kill({ kind: "protocol", reason: `sent ${err.message}` });
            return;
          }
          throw err;
        }
        for (const message of messages) this.#receive(message as FromHost);
      }
    } catch {
      // The pipe broke: the host is gone, and its status says how.
    }
  }

  #receive(message: FromHost): void {
    if (message.type === "pong" && Number.isSafeInteger(message.rss)) this.#rss = message.rss;
    if (message.type === "log" || message.type === "uncaught") {
      this.onMessage(message);
      return;
    }
    const id = (message as { id?: unknown }).id;
    if (typeof id !== "number") return;
    const waiter = this.#waiting.get(id);
    if (!waiter) return;
    if (message.type === "started") {
      waiter.started = true;
      // Its timeout counts from now: a call queued behind a busy host is not late yet.
      waiter.until = performance.now() + waiter.timeoutMs;
      return;
    }
    if (waiter.type !== message.type && !(waiter.type === "loaded" && message.type === "load-failed")) {
      return;
    }
    this.#waiting.delete(id);
    waiter.resolve(message);
  }

  async #readStderr(): Promise<void> {
    const decoder = new TextDecoder();
    let window = { start: 0, lines: 0, dropped: 0 };
    let partial = "";
    try {
      for await (const chunk of this.#child.stderr) {
        const text = decoder.decode(chunk, { stream: true });
        this.#stderrTail = (this.#stderrTail + text).slice(-STDERR_TAIL);
        const lines = (partial + text).split("\n");
        partial = lines.pop()!.slice(-STDERR_TAIL);
        for (const line of lines) {
          if (line.trim() === "" || this.#options.onStderrLine?.(line)) continue;
          const now = performance.now();
          if (now - window.start >= 1000) {
            if (window.dropped > 0) {
              this.#options.log.warn("module host output dropped", {
                host: this.label,
                dropped: window.dropped,
              });
            }
            window = { start: now, lines: 0, dropped: 0 };
          }
          if (++window.lines > STDERR_LINES_PER_SECOND) window.dropped++;
          else this.#options.log.warn("module host output", { host: this.label, line: line.slice(0, 2048) });
        }
      }
    } catch {
      // The pipe broke with the host.
    }
  }

  #exited(status: Deno.CommandStatus): void {
    clearInterval(this.#timer);
    // Calls the host had begun: one of them holds it (a call still queued cannot).
    const begun = [...this.#waiting.values()].filter((w) => w.suspect !== undefined && w.started);
    const suspects = [
      ...new Set(begun.flatMap((w) => w.target === undefined && w.type !== "disposed" ? [w.suspect!] : [])),
    ];
    const disposing = [
      ...new Set(
        begun.flatMap((w) => w.type === "disposed" && !suspects.includes(w.suspect!) ? [w.suspect!] : []),
      ),
    ];
    const probes = [
      ...new Map(
        begun.flatMap((w) =>
          w.target === undefined
            ? []
            : [[JSON.stringify([w.suspect, w.target]), { module: w.suspect!, target: w.target }] as const]
        ),
      ).values(),
    ];
    let death: HostDeath;
    if (this.#killing) death = { ...this.#killing, suspects, disposing, probes };
    else if (/out of memory/i.test(this.#stderrTail)) {
      death = {
        kind: "out_of_memory",
        reason: `ran out of memory (exit ${status.code})`,
        suspects,
        disposing,
        probes,
      };
    } else if (this.#retiring) {
      death = { kind: "retired", reason: "was retired", suspects, disposing, probes };
    } else {
      death = {
        kind: "exited",
        reason: status.signal
          ? `was ended by ${status.signal} (exit ${status.code})`
          : `exited with code ${status.code}`,
        suspects,
        disposing,
        probes,
      };
    }
    this.#death = death;
    for (const waiter of this.#waiting.values()) {
      waiter.reject(new HostGoneError(`its host ${death.reason}`, waiter.started));
    }
    const err = new Error(`its host ${death.reason}`);
    this.#waiting.clear();
    this.#writer.close().catch(() => {});
    this.#ready.reject(err);
    this.#ended.resolve(death);
  }
}
