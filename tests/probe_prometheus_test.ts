/**
 * Issue 20 against a real Prometheus: file_sd lists three targets, the shipped relabelling of
 * contrib/prometheus/probe.yml turns each into a probe by the exporter, and Prometheus' API
 * shows `probe_success` and `up` per target (`instance` is the target, not the exporter).
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import { hasCommand } from "./_promtool.ts";
import { waitFor, withExporter } from "./_server.ts";

const CONTRIB = fileURLToPath(new URL("../contrib/prometheus/", import.meta.url));
const hasPrometheus = await hasCommand("prometheus");

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(base: string, promql: string): Promise<Series[]> {
  const response = await fetch(`${base}/api/v1/query?${new URLSearchParams({ query: promql })}`);
  const body = await response.json();
  return body.data?.result ?? [];
}

Deno.test({
  name: "a real Prometheus with file_sd and the shipped relabelling records probe_success and up per target",
  ignore: !hasPrometheus,
  async fn() {
    const api = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (request) => Response.json({ status: "ok", n: Number(new URL(request.url).pathname.slice(2)) }),
    );
    const targets = [1, 2, 3].map((n) => `http://127.0.0.1:${api.addr.port}/t${n}`);
    const example = await Deno.readTextFile(new URL("../examples/json_probe.ts", import.meta.url));
    const dir = await Deno.makeTempDir({ prefix: "dx_prometheus_" });
    let prometheus: Deno.ChildProcess | undefined;
    try {
      await withExporter({ "json_probe.ts": example }, async (e) => {
        const config = yaml.load(await Deno.readTextFile(`${CONTRIB}probe.yml`)) as {
          global: Record<string, unknown>;
          scrape_configs: Record<string, unknown>[];
        };
        const job = config.scrape_configs[0];
        config.global.scrape_interval = "1s";
        job.scrape_timeout = "1s";
        job.file_sd_configs = [{ files: [`${dir}/targets.yml`] }];
        const relabel = job.relabel_configs as Record<string, unknown>[];
        // The shipped relabelling, only the exporter's address changed.
        assert.equal(relabel.at(-1)!.replacement, "dynamic-exporter:8000");
        relabel.at(-1)!.replacement = new URL(e.url).host;
        await Deno.writeTextFile(`${dir}/targets.yml`, yaml.dump([{ targets }]));
        await Deno.writeTextFile(`${dir}/prometheus.yml`, yaml.dump(config));
        const port = freePort();
        prometheus = new Deno.Command("prometheus", {
          args: [
            `--config.file=${dir}/prometheus.yml`,
            `--storage.tsdb.path=${dir}/data`,
            `--web.listen-address=127.0.0.1:${port}`,
          ],
          stdout: "null",
          stderr: "null",
        }).spawn();
        const base = `http://127.0.0.1:${port}`;
        let success: Series[] = [];
        let up: Series[] = [];
        await waitFor(async () => {
          success = await query(base, 'probe_success{job="json_probe"}');
          up = await query(base, 'up{job="json_probe"}');
          return success.length === 3 && up.length === 3;
        }, { timeoutMs: 30_000, intervalMs: 500, message: () => JSON.stringify({ success, up }) });
        const byInstance = (series: Series[]) =>
          Object.fromEntries(series.map((s) => [s.metric.instance, s.value[1]]).sort());
        const ones = Object.fromEntries(targets.map((t) => [t, "1"]));
        if (Deno.env.get("DX_SHOW_PROMETHEUS") === "1") {
          // For a closing note: what Prometheus' API answered.
          for (const s of [...success, ...up]) console.log(JSON.stringify(s));
        }
        assert.deepEqual(byInstance(success), ones);
        assert.deepEqual(byInstance(up), ones);
        const values = await query(base, 'json_probe_value{job="json_probe",field="n"}');
        assert.deepEqual(
          byInstance(values),
          Object.fromEntries(targets.map((t, i) => [t, String(i + 1)])),
        );
      });
    } finally {
      if (prometheus) {
        prometheus.kill("SIGKILL");
        await prometheus.status;
      }
      await api.shutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
