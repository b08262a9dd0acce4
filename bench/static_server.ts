/**
 * The limit for a Deno server, as `deno task bench` compares against it (issue 10): GETs the
 * exporter's body once (plain) and gzips it once, then serves those bytes as they are. It
 * prints its port on stdout, then the longest event-loop stall of each second, measured by
 * the same kind of probe timer as the exporter's.
 *
 * With `--zero-copy` it is the ceiling of issue 21: each encoding's bytes as one body stream that
 * no one reads, handed to every Response through lib/http/response_body.ts as the exporter
 * does, so no response copies them; without it, `new Response(bytes)` copies them each time.
 *
 * Run: deno run --allow-net bench/static_server.ts [--zero-copy] <exporter /metrics URL> [accept header]
 */

import { gzipSync } from "node:zlib";
import { responseBody } from "../lib/http/response_body.ts";

const zeroCopy = Deno.args[0] === "--zero-copy";
const [source, accept = "text/plain"] = Deno.args.slice(zeroCopy ? 1 : 0);
const response = await fetch(source, { headers: { "accept-encoding": "identity", accept } });
const contentType = response.headers.get("content-type") ?? "text/plain";
const plain = new Uint8Array(await response.arrayBuffer());
const gzip = new Uint8Array(gzipSync(plain));
// responseBody keeps a body per parts array: the same array each time, the same stream.
const [plainParts, gzipParts] = [[plain], [gzip]];
const body = (bytes: Uint8Array<ArrayBuffer>, parts: Uint8Array<ArrayBuffer>[]) => {
  if (!zeroCopy) return { body: bytes, headers: {} };
  const { body, headers } = responseBody(parts);
  return { body, headers: headers ?? {} };
};

const tickMs = 10;
let last = performance.now();
let longest = 0;
setInterval(() => {
  const now = performance.now();
  longest = Math.max(longest, now - last - tickMs);
  last = now;
}, tickMs);
setInterval(() => {
  console.log(`stall ${Math.max(0, longest).toFixed(1)}`);
  longest = 0;
}, 1000);

Deno.serve(
  {
    hostname: "127.0.0.1",
    port: 0,
    onListen: ({ port }) => console.log(`port ${port}`),
  },
  (request) => {
    if ((request.headers.get("accept-encoding") ?? "").includes("gzip")) {
      const { body: bytes, headers } = body(gzip, gzipParts);
      return new Response(bytes, {
        headers: { ...headers, "content-type": contentType, "content-encoding": "gzip" },
      });
    }
    const { body: bytes, headers } = body(plain, plainParts);
    return new Response(bytes, { headers: { ...headers, "content-type": contentType } });
  },
);
