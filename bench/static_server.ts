/**
 * The limit for a Deno server, as `deno task bench` compares against it (issue 10): GETs the
 * exporter's body once (plain) and gzips it once, then serves those bytes as they are. It
 * prints its port on stdout, then the longest event-loop stall of each second, measured by
 * the same kind of probe timer as the exporter's.
 *
 * Run: deno run --allow-net bench/static_server.ts <exporter /metrics URL> [accept header]
 */

import { gzipSync } from "node:zlib";

const [source, accept = "text/plain"] = Deno.args;
const response = await fetch(source, { headers: { "accept-encoding": "identity", accept } });
const contentType = response.headers.get("content-type") ?? "text/plain";
const plain = new Uint8Array(await response.arrayBuffer());
const gzip = new Uint8Array(gzipSync(plain));

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
  (request) =>
    (request.headers.get("accept-encoding") ?? "").includes("gzip")
      ? new Response(gzip, { headers: { "content-type": contentType, "content-encoding": "gzip" } })
      : new Response(plain, { headers: { "content-type": contentType } }),
);
