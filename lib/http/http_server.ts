/** The listening socket: Deno.serve on the flag's address, over TLS when the web config says so. */

import { formatHostPort, type ListenAddress } from "../flags.ts";
import type { Logger } from "../log.ts";
import type { TlsMaterial } from "../web_config/web_config.ts";

export interface HttpServerOptions {
  log: Logger;
  tls?: TlsMaterial;
  /**
   * Rebind the socket this often, in ms, to close idle connections; 0 or absent: never.
   * Deno.serve (2.9.6) has no idle or header-read timeout and ignores `Connection: close` in a
   * response: a connection that sends nothing, or nothing more after a response, stays open
   * for good (issue 8, item 15). Its `shutdown()` closes exactly those at once and lets
   * requests in flight finish, so a periodic rebind is the idle timeout there is.
   */
  idleTimeoutMs?: number;
}

/** How long a certificate swap waits for the old socket to release the port. */
const REBIND_MS = 2000;

export class HttpServer {
  readonly #handler: Deno.ServeHandler;
  readonly #log: Logger;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #tls: TlsMaterial | undefined;
  #swapping: Promise<void> = Promise.resolve();
  #recycleTimer: ReturnType<typeof setInterval> | undefined;
  /** Sockets a recycle closed whose requests in flight have not finished yet. */
  readonly #draining = new Set<Promise<void>>();

  private constructor(
    server: Deno.HttpServer<Deno.NetAddr>,
    handler: Deno.ServeHandler,
    options: HttpServerOptions,
  ) {
    this.#server = server;
    this.#handler = handler;
    this.#log = options.log;
    this.#tls = options.tls;
    const every = options.idleTimeoutMs ?? 0;
    if (every > 0) this.#recycleTimer = setInterval(() => this.#recycle(), every);
  }

  /** Listens on `address`; throws when the address cannot be bound. */
  static listen(address: ListenAddress, handler: Deno.ServeHandler, options: HttpServerOptions): HttpServer {
    const serve = (hostname: string) => bind(hostname, address.port, handler, options.tls, options.log);
    if (address.hostname !== "") return new HttpServer(serve(address.hostname), handler, options);
    try {
      return new HttpServer(serve("::"), handler, options); // "::" takes IPv4 and IPv6; "0.0.0.0" is IPv4 only
    } catch (err) {
      options.log.debug("IPv6 unavailable; listening on IPv4 only", { err });
      return new HttpServer(serve("0.0.0.0"), handler, options);
    }
  }

  get addr(): Deno.NetAddr {
    return this.#server.addr;
  }

  /**
   * Serves with `tls` from now on (a rotated certificate, or TLS turned on or off). Deno.serve
   * fixes its certificate at start, so this closes the socket and binds the same address
   * again: requests in flight finish on the old one, new connections wait a few ms. When the
   * new material cannot be served, it binds with the old and throws.
   */
  setTls(tls: TlsMaterial | undefined): Promise<void> {
    const swap = this.#swapping.then(async () => {
      if (tls?.cert === this.#tls?.cert && tls?.key === this.#tls?.key) return;
      const old = this.#server;
      const { hostname, port } = old.addr;
      const closing = old.shutdown();
      try {
        this.#server = await rebind(() => bind(hostname, port, this.#handler, tls, this.#log));
        this.#tls = tls;
      } catch (err) {
        this.#server = await rebind(() => bind(hostname, port, this.#handler, this.#tls, this.#log));
        throw err;
      } finally {
        await closing;
      }
    });
    this.#swapping = swap.catch(() => {});
    return swap;
  }

  /**
   * Closes every idle connection (kept alive after a response, or without a complete request)
   * by binding the address again: requests in flight finish on the old socket; a connection
   * attempt in the few ms between close and bind is refused.
   */
  recycle(): Promise<void> {
    const swap = this.#swapping.then(async () => {
      const old = this.#server;
      const { hostname, port } = old.addr;
      const closing = old.shutdown();
      const started = performance.now();
      this.#server = await rebindForGood(
        () => bind(hostname, port, this.#handler, this.#tls, this.#log, true),
        this.#log,
      );
      this.#log.debug("socket rebound; idle connections closed", {
        rebind_ms: Math.round(performance.now() - started),
      });
      // A slow request on the old socket must not hold back the next recycle.
      this.#draining.add(closing);
      const drained = () => void this.#draining.delete(closing);
      closing.then(drained, drained);
    });
    this.#swapping = swap.catch(() => {});
    return swap;
  }

  #recycle(): void {
    this.recycle().catch((err) => this.#log.error("socket rebind failed", { err }));
  }

  /** Stops accepting and waits for requests in flight. */
  async shutdown(): Promise<void> {
    clearInterval(this.#recycleTimer);
    this.#recycleTimer = undefined;
    await this.#swapping;
    await Promise.all([this.#server.shutdown(), ...this.#draining]);
  }
}

function bind(
  hostname: string,
  port: number,
  handler: Deno.ServeHandler,
  tls: TlsMaterial | undefined,
  log: Logger,
  quiet = false,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    hostname,
    port,
    ...(tls ? { cert: tls.cert, key: tls.key } : {}),
    onListen: (addr) =>
      (quiet ? log.debug : log.info).call(log, "listening", {
        address: formatHostPort(addr.hostname, addr.port),
        tls: !!tls,
      }),
  }, handler);
}

/** Retries `bind` while the port is still held by the socket being closed. */
async function rebind(bindOnce: () => Deno.HttpServer<Deno.NetAddr>): Promise<Deno.HttpServer<Deno.NetAddr>> {
  const deadline = Date.now() + REBIND_MS;
  for (;;) {
    try {
      return bindOnce();
    } catch (err) {
      if (!(err instanceof Deno.errors.AddrInUse) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
}

/**
 * `rebind`, retried until it succeeds: a recycle has already closed the old socket, and an
 * exporter that gave up would serve nothing until restarted.
 */
async function rebindForGood(
  bindOnce: () => Deno.HttpServer<Deno.NetAddr>,
  log: Logger,
): Promise<Deno.HttpServer<Deno.NetAddr>> {
  for (;;) {
    try {
      return await rebind(bindOnce);
    } catch (err) {
      log.error("cannot bind the listen address again; retrying", { err });
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
