import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { HttpServer } from "./http_server.ts";
import { Logger } from "./log.ts";
import type { TlsMaterial } from "./web_config.ts";

const FIXTURES = fileURLToPath(new URL("../tests/fixtures/web", import.meta.url));
const read = (name: string) => Deno.readTextFileSync(`${FIXTURES}/${name}`);
const material = (cert: string, key: string): TlsMaterial => ({
  cert: read(cert),
  key: read(key),
  notAfter: "",
  fingerprint: "",
});
const FIRST = material("server.pem", "server.key");
const SECOND = material("server2.pem", "server2.key");

/** Fetches over TLS trusting only `ca`: which CA succeeds tells which certificate is served. */
async function get(url: string, ca: string): Promise<string> {
  const client = Deno.createHttpClient({ caCerts: [read(ca)] });
  try {
    const response = await fetch(url, { client });
    return await response.text();
  } catch {
    return "handshake refused";
  } finally {
    client.close();
  }
}

interface Slow {
  /** Resolves when a request to /slow is in the handler. */
  entered: Promise<void>;
  /** Lets that request finish. */
  release(): void;
}

async function withServer(
  tls: TlsMaterial | undefined,
  fn: (server: HttpServer, url: string, slow: Slow) => Promise<void>,
) {
  const entered = Promise.withResolvers<void>();
  const released = Promise.withResolvers<void>();
  const handler = async (request: Request) => {
    if (new URL(request.url).pathname === "/slow") {
      entered.resolve();
      await released.promise;
      return new Response("slow done\n");
    }
    return new Response("hello\n");
  };
  const server = HttpServer.listen({ hostname: "127.0.0.1", port: 0 }, handler, {
    log: new Logger({ write: () => {} }),
    tls,
  });
  try {
    await fn(server, `https://localhost:${server.addr.port}`, {
      entered: entered.promise,
      release: () => released.resolve(),
    });
  } finally {
    released.resolve();
    await server.shutdown();
  }
}

Deno.test("HttpServer serves the configured certificate", () =>
  withServer(FIRST, async (_, url) => {
    assert.equal(await get(`${url}/`, "ca.pem"), "hello\n");
    assert.equal(await get(`${url}/`, "ca2.pem"), "handshake refused");
  }));

Deno.test("setTls swaps the certificate on the same port", () =>
  withServer(FIRST, async (server, url) => {
    const port = server.addr.port;
    await server.setTls(SECOND);
    assert.equal(server.addr.port, port);
    assert.equal(await get(`${url}/`, "ca2.pem"), "hello\n");
    assert.equal(await get(`${url}/`, "ca.pem"), "handshake refused");
  }));

Deno.test("setTls turns TLS off and on again", () =>
  withServer(FIRST, async (server, url) => {
    await server.setTls(undefined);
    assert.equal(await (await fetch(`http://127.0.0.1:${server.addr.port}/`)).text(), "hello\n");
    await server.setTls(FIRST);
    assert.equal(await get(`${url}/`, "ca.pem"), "hello\n");
  }));

Deno.test("a request in flight during a swap finishes on the old socket while new ones get the new one", () =>
  withServer(FIRST, async (server, url, slow) => {
    const client = Deno.createHttpClient({ caCerts: [read("ca.pem")] });
    try {
      const inFlight = fetch(`${url}/slow`, { client }).then((r) => r.text());
      await slow.entered;
      const swapped = server.setTls(SECOND);
      const deadline = Date.now() + 5000;
      while (await get(`${url}/`, "ca2.pem") !== "hello\n") {
        assert.ok(Date.now() < deadline, "the new certificate was never served");
      }
      slow.release();
      assert.equal(await inFlight, "slow done\n");
      await swapped;
    } finally {
      client.close();
    }
  }));

Deno.test("material Deno cannot serve keeps the old certificate and throws", () =>
  withServer(FIRST, async (server, url) => {
    const broken = { ...SECOND, key: read("other.key") };
    await assert.rejects(server.setTls(broken));
    assert.equal(await get(`${url}/`, "ca.pem"), "hello\n");
  }));
