/**
 * bcrypt on a Worker thread, behind a bounded queue. The main thread never runs bcrypt, so
 * scrapes and probes are answered while a flood of wrong passwords is checked; past
 * `maxPending` checks waiting, a new one is refused at once instead of queued, so a flood
 * costs one core and a bounded wait, never an unbounded backlog (issue 8, item 13).
 */

export type BcryptRequest =
  | { id: number; op: "compare"; password: string; hash: string }
  | { id: number; op: "hash"; password: string; cost: number };

export type BcryptReply = { id: number; result: boolean | string } | { id: number; error: string };

export interface BcryptQueueOptions {
  /** How many checks may wait or run at once; past it `compare` answers "busy". Default 64. */
  maxPending?: number;
}

interface Waiter {
  resolve(result: boolean | string): void;
  reject(err: Error): void;
}

export class BcryptQueue {
  readonly #maxPending: number;
  readonly #waiting = new Map<number, Waiter>();
  #worker: Worker | undefined;
  #nextId = 0;
  #closed = false;

  constructor(options: BcryptQueueOptions = {}) {
    this.#maxPending = options.maxPending ?? 64;
  }

  /** Checks waiting or running. */
  get pending(): number {
    return this.#waiting.size;
  }

  /** Whether `password` matches `hash`; "busy", at once, when `maxPending` checks are pending. */
  compare(password: string, hash: string): Promise<boolean | "busy"> {
    if (this.#waiting.size >= this.#maxPending) return Promise.resolve("busy");
    return this.#send({ op: "compare", password, hash }) as Promise<boolean>;
  }

  /** A bcrypt hash of `password` at `cost` (not bounded: only the exporter itself asks). */
  hash(password: string, cost: number): Promise<string> {
    return this.#send({ op: "hash", password, cost }) as Promise<string>;
  }

  /** Stops the Worker; pending calls reject. */
  close(): void {
    this.#closed = true;
    this.#stop(new Error("bcrypt queue closed"));
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #send(
    request: { op: "compare"; password: string; hash: string } | {
      op: "hash";
      password: string;
      cost: number;
    },
  ): Promise<boolean | string> {
    if (this.#closed) return Promise.reject(new Error("bcrypt queue closed"));
    const id = this.#nextId++;
    const { promise, resolve, reject } = Promise.withResolvers<boolean | string>();
    this.#waiting.set(id, { resolve, reject });
    this.#start().postMessage({ id, ...request });
    return promise;
  }

  /** The Worker, started at the first check: an exporter without users never pays for it. */
  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = new Worker(new URL("./bcrypt_worker.ts", import.meta.url), { type: "module" });
    worker.onmessage = ({ data }: MessageEvent<BcryptReply>) => {
      const waiter = this.#waiting.get(data.id);
      this.#waiting.delete(data.id);
      if ("error" in data) waiter?.reject(new Error(data.error));
      else waiter?.resolve(data.result);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      // A Worker that failed (it could not load, say) fails its pending checks; the next
      // check starts a fresh one.
      this.#stop(new Error(`bcrypt worker failed: ${event.message}`));
    };
    this.#worker = worker;
    return worker;
  }

  #stop(err: Error): void {
    this.#worker?.terminate();
    this.#worker = undefined;
    for (const waiter of this.#waiting.values()) waiter.reject(err);
    this.#waiting.clear();
  }
}
