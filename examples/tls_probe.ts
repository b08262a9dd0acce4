/**
 * A probe module (issue 20): the expiry of a TLS server's certificate, as blackbox_exporter's
 * probe_ssl_earliest_cert_expiry. Copy it into the metrics dir, edit `targets` to your hosts:
 *
 *     GET /probe?module=tls_probe&target=api.internal:443
 *
 * Alert on `tls_probe_cert_not_after_seconds - time() < 14 * 86400`. The chain is read whether
 * or not it verifies, so an expired or self-signed certificate is still measured;
 * `tls_probe_cert_trusted` says whether it verifies against the system's CAs for that name.
 */

import tls from "node:tls";
import { isIP } from "node:net";
import { Gauge } from "prom-client";
import type { Module, ProbeContext } from "dynamic_exporter";

/** host:port of the servers this module may connect to; anything else is refused with 403. */
export const targets: Module["targets"] =
  /(localhost|127\.0\.0\.1|[a-z0-9-]+(\.[a-z0-9-]+)*\.internal):\d{1,5}/;

export const timeout: Module["timeout"] = "5s";

interface Peer {
  notAfter: string;
  subject: string;
  trusted: boolean;
}

export async function probe(target: string, ctx: ProbeContext): Promise<void> {
  const notAfter = new Gauge({
    name: "tls_probe_cert_not_after_seconds",
    help: "When the server's certificate expires, in seconds since the epoch.",
    registers: [ctx.registry],
  });
  const trusted = new Gauge({
    name: "tls_probe_cert_trusted",
    help:
      "Whether the server's chain verifies against the system's CAs for the target's name (1) or not (0).",
    registers: [ctx.registry],
  });
  const colon = target.lastIndexOf(":");
  const host = target.slice(0, colon);
  const port = Number(target.slice(colon + 1));
  const peer = await new Promise<Peer>((resolve, reject) => {
    const socket = tls.connect(
      // SNI takes a name, never an address.
      { host, port, rejectUnauthorized: false, ...isIP(host) ? {} : { servername: host } },
      () => {
        const cert = socket.getPeerCertificate();
        resolve({
          notAfter: cert.valid_to,
          subject: String(cert.subject?.CN ?? ""),
          trusted: socket.authorized,
        });
        socket.end();
      },
    );
    socket.on("error", reject);
    ctx.signal.addEventListener("abort", () => {
      socket.destroy();
      reject(ctx.signal.reason);
    }, { once: true });
  });
  const expires = Date.parse(peer.notAfter);
  if (Number.isNaN(expires)) {
    throw new Error(`the certificate's expiry ${JSON.stringify(peer.notAfter)} is not a date`);
  }
  ctx.log.debug("certificate read", {
    subject: peer.subject,
    not_after: peer.notAfter,
    trusted: peer.trusted,
  });
  notAfter.set(expires / 1000);
  trusted.set(peer.trusted ? 1 : 0);
}
