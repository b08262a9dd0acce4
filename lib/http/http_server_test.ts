import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { HttpServer } from "./http_server.ts";
import { Logger } from "../log.ts";
import type { TlsMaterial } from "../web_config/web_config.ts";

const FIXTURES = fileURLToPath(new URL("../../tests/fixtures/web", import.meta.url));
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

/** Resolves when the server closes `conn` (read returns null or fails); the bytes read before. */
async function readUntilClosed(conn: Deno.Conn): Promise<string> {
  const chunks: string[] = [];
  const buffer = new Uint8Array(4096);
  const decoder = new TextDecoder();
  for (;;) {
    let n: number | null;
    try {
      n = await conn.read(buffer);
    } catch {
      n = null;
    }
    if (n === null) return chunks.join("");
    chunks.push(decoder.decode(buffer.subarray(0, n)));
  }
}

Deno.test("with idleTimeoutMs, idle and silent connections are closed while a request in flight finishes", async () => {
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
    idleTimeoutMs: 300,
  });
  const { port } = server.addr;
  const connect = () => Deno.connect({ hostname: "127.0.0.1", port });
  const send = (conn: Deno.Conn, path: string, extra = "") =>
    conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`));
  const [silent, keptAlive, slow] = await Promise.all([connect(), connect(), connect()]);
  try {
    await send(keptAlive, "/");
    await send(slow, "/slow", "Connection: close\r\n");
    await entered.promise;
    const closed = await Promise.all([readUntilClosed(silent), readUntilClosed(keptAlive)]);
    assert.deepEqual([closed[0], closed[1].endsWith("hello\n")], ["", true]);
    released.resolve();
    assert.match(await readUntilClosed(slow), /^HTTP\/1\.1 200 OK\r\n[\s\S]*slow done\n$/);
    // Still serving: a connection attempt lands between two rebinds (a few ms each) at once
    // or at the second try.
    let answer = "";
    for (let attempt = 0; attempt < 20 && answer === ""; attempt++) {
      answer = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text(), () => "");
    }
    assert.equal(answer, "hello\n");
  } finally {
    released.resolve();
    for (const conn of [silent, keptAlive, slow]) {
      try {
        conn.close();
      } catch { /* closed already */ }
    }
    await server.shutdown();
  }
});
