// An async process(ctx) that honours ctx.signal: the exporter aborts it at the timeout, so a
// slow endpoint cannot pile up requests. Probes the exporter's own health endpoint by default;
// point PROBE_URL at the API you care about.
import { Gauge } from "prom-client";
import type { Module, ProcessContext } from "dynamic_exporter";

const url = Deno.env.get("PROBE_URL") ?? "http://127.0.0.1:8000/-/healthy";

const up = new Gauge({
  name: "http_probe_up",
  help: "Whether the last probe got a 2xx answer.",
  labelNames: ["url"],
});
const seconds = new Gauge({
  name: "http_probe_duration_seconds",
  help: "How long the last probe took.",
  labelNames: ["url"],
});

export const timeout: Module["timeout"] = "2s";

export async function process(ctx: ProcessContext): Promise<void> {
  const start = performance.now();
  try {
    const response = await fetch(url, { signal: ctx.signal });
    await response.body?.cancel();
    up.set({ url }, response.ok ? 1 : 0);
  } catch (err) {
    up.set({ url }, 0);
    ctx.log.debug("probe failed", { url, err: String(err) });
  } finally {
    seconds.set({ url }, (performance.now() - start) / 1000);
  }
}
