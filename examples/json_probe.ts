/**
 * A probe module (issue 20): the json_exporter case, with logic a YAML config cannot express.
 * Copy it into the metrics dir, edit `targets` to your hosts, and let Prometheus hand it the
 * targets (contrib/prometheus/probe.yml):
 *
 *     GET /probe?module=json_probe&target=http://api.internal:8080/health&expect=ok
 *
 * It fetches the target, reads its JSON, and serves each numeric top-level field as
 * `json_probe_value{field="..."}`; with `expect`, the probe fails unless the `status` field
 * equals it. Credentials never travel in the query: a parameter may name a credential set
 * the module reads from its environment (--env-file), as `auth` would here:
 *
 *     const token = Deno.env.get(`JSON_PROBE_TOKEN_${ctx.params.auth.toUpperCase()}`);
 */

import { Gauge } from "prom-client";
import type { Module, ProbeContext } from "dynamic_exporter";

/**
 * The targets this module may fetch: a RegExp the whole target must match (or a list of exact
 * targets). Anything else is refused with 403 before probe() runs, so the exporter is not an
 * open proxy for whoever can reach it.
 */
export const targets: Module["targets"] =
  /https?:\/\/(localhost|127\.0\.0\.1|[a-z0-9-]+\.internal)(:\d+)?\/[^\s]*/;

/** The query parameters probe() takes: any other is refused with 400. */
export const params: Module["params"] = ["expect"];

/** Bounds each probe (capped by Prometheus' scrape timeout). */
export const timeout: Module["timeout"] = "5s";

export async function probe(target: string, ctx: ProbeContext): Promise<void> {
  const value = new Gauge({
    name: "json_probe_value",
    help: "Numeric top-level fields of the target's JSON answer.",
    labelNames: ["field"],
    registers: [ctx.registry],
  });
  const status = new Gauge({
    name: "json_probe_http_status_code",
    help: "HTTP status code of the target's answer.",
    registers: [ctx.registry],
  });
  const response = await fetch(target, { signal: ctx.signal, headers: { accept: "application/json" } });
  status.set(response.status);
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`the target answered ${response.status}`);
  }
  const body = await response.json() as Record<string, unknown>;
  ctx.log.debug("target answered", { status: response.status, fields: Object.keys(body).length });
  for (const [field, v] of Object.entries(body)) {
    if (typeof v === "number") value.set({ field }, v);
  }
  const expect = ctx.params.expect;
  if (expect !== undefined && body.status !== expect) {
    throw new Error(`its status is ${JSON.stringify(body.status)}, not ${JSON.stringify(expect)}`);
  }
}
