// template_http: reads a JSON API over HTTP and serves its numbers as gauges. Written by
// `deno task new-module template_http --kind=http`; make it yours:
// 1. the URL (here, or TEMPLATE_HTTP_URL in the exporter's --env-file), and its host:port in
//    sandbox.net below;
// 2. the metrics and how process() reads them from the answer;
// 3. its fixtures in _fixtures/template_http/, which `deno task test-module` replays: once
//    the module is yours, record a real answer with `--record`, delete example/ and
//    key checks.ts to "recorded/1"; or make example/ what your backend gives and `--update`.
import { Gauge } from "prom-client";
import type { ProcessContext, Sandbox } from "dynamic_exporter";

const url = Deno.env.get("TEMPLATE_HTTP_URL") ?? "http://127.0.0.1:8080/status";

// This module's own host gets exactly these permissions: a URL on another host:port needs that
// host:port here too (or "$TEMPLATE_HTTP_HOST", with that setting in the --env-file).
export const sandbox: Sandbox = {
  net: ["127.0.0.1:8080"],
  env: ["TEMPLATE_HTTP_URL"],
};

const depth = new Gauge({
  name: "template_http_queue_depth",
  help: "Items waiting in each queue, as the API reports them.",
  labelNames: ["queue"],
});

export async function process(ctx: ProcessContext): Promise<void> {
  const response = await fetch(url, { signal: ctx.signal, headers: { accept: "application/json" } });
  if (!response.ok) {
    await response.body?.cancel();
    // A throw marks the module down (module_up 0); its last good values stay served.
    throw new Error(`${url} answered ${response.status}`);
  }
  // The answer this reads: {"queues": {"orders": 3, "emails": 0}}
  const { queues } = await response.json();
  if (typeof queues !== "object" || queues === null) throw new Error(`${url}: no "queues" in its answer`);
  depth.reset(); // a queue gone from the answer goes from /metrics too
  for (const [queue, value] of Object.entries(queues)) {
    if (typeof value === "number") depth.set({ queue }, value);
  }
}
