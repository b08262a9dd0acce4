// template_probe: a probe module. Prometheus hands it targets (contrib/prometheus/probe.yml):
//   GET /probe?module=template_probe&target=http://127.0.0.1:8080/health
// It fetches the target and serves its HTTP status; an answer other than 2xx fails the probe
// (probe_success 0). Written by `deno task new-module template_probe --kind=probe`; make it yours:
// 1. which targets it accepts, and their hosts in sandbox.net below;
// 2. the metrics and how probe() reads them from the answer;
// 3. its fixtures in _fixtures/template_probe/, which `deno task test-module` replays: once
//    the module is yours, record a real probe with `--record --target=<target>`, delete example/ and
//    key checks.ts to "recorded/1"; or make example/ what your backend gives and `--update`.
import { Gauge } from "prom-client";
import type { Module, ProbeContext, Sandbox } from "dynamic_exporter";

// A RegExp the whole target must match (or a list of exact targets). Any other target gets 403
// and never reaches probe(), so the exporter is no open proxy.
export const targets: Module["targets"] = /http:\/\/(127\.0\.0\.1|localhost)(:\d+)?\/\S*/;

// This module's own host gets exactly these permissions: a host without a port, any port of it.
export const sandbox: Sandbox = {
  net: ["127.0.0.1", "localhost"],
};

// Bounds each probe (capped by Prometheus' scrape timeout).
export const timeout: Module["timeout"] = "5s";

export async function probe(target: string, ctx: ProbeContext): Promise<void> {
  // A probe's metrics are its own call's: create them on ctx.registry, in probe().
  const status = new Gauge({
    name: "template_probe_http_status_code",
    help: "HTTP status code of the target's answer.",
    registers: [ctx.registry],
  });
  const response = await fetch(target, { signal: ctx.signal });
  await response.body?.cancel();
  status.set(response.status);
  if (!response.ok) throw new Error(`${target} answered ${response.status}`);
}
