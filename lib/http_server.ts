/** The listening socket: Deno.serve on the flag's address, over TLS when the web config says so. */

import { formatHostPort, type ListenAddress } from "./flags.ts";
import type { Logger } from "./log.ts";
import type { TlsMaterial } from "./web_config.ts";

export interface HttpServerOptions {
  log: Logger;
  tls?: TlsMaterial;
}

/** How long a certificate swap waits for the old socket to release the port. */
const REBIND_MS = 2000;

export class HttpServer {
  readonly #handler: Deno.ServeHandler;
  readonly #log: Logger;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #tls: TlsMaterial | undefined;
  #swapping: Promise<void> = Promise.resolve();

  private constructor(
    server: Deno.HttpServer<Deno.NetAddr>,
    handler: Deno.ServeHandler,
    options: HttpServerOptions,
  ) {
    this.#server = server;
    this.#handler = handler;
    this.#log = options.log;
    this.#tls = options.tls;
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

  /** Stops accepting and waits for requests in flight. */
  async shutdown(): Promise<void> {
    await this.#swapping;
    await this.#server.shutdown();
  }
}

function bind(
  hostname: string,
  port: number,
  handler: Deno.ServeHandler,
  tls: TlsMaterial | undefined,
  log: Logger,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    hostname,
    port,
    ...(tls ? { cert: tls.cert, key: tls.key } : {}),
    onListen: (addr) =>
      log.info("listening", { address: formatHostPort(addr.hostname, addr.port), tls: !!tls }),
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
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
