/** End to end with a real Prometheus: file-based discovery of two exporters, and staleness on delete. */

import assert from "node:assert/strict";
import { hasCommand } from "./_promtool.ts";
import { type Prometheus, type Sample, startPrometheus } from "./_prometheus.ts";
import { type Exporter, gaugeModule, startExporter, tempMetricsDir, waitForSample } from "./_server.ts";

const hasPrometheus = await hasCommand("prometheus");
if (!hasPrometheus) console.warn("skipping the Prometheus discovery test: prometheus is not installed");

const CONFIG = `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: dx_sd
    file_sd_configs:
      - files: [targets.json]
        refresh_interval: 1s
`;

type Row = Record<string, string>;

/** Rows sorted by instance, so a whole query result compares at once. */
function sorted(rows: Row[]): Row[] {
  return rows.sort((x, y) => x.instance.localeCompare(y.instance));
}

/** Each sample as its labels plus its value, sorted by instance. */
function rows(results: Sample[]): Row[] {
  return sorted(results.map(({ metric, value }): Row => ({ ...metric, value: value[1] })));
}

Deno.test({
  name:
    "a real Prometheus discovers two exporters through file_sd and sees a deleted module's series go stale",
  ignore: !hasPrometheus,
  async fn() {
    const dirs: string[] = [];
    const exporters: Exporter[] = [];
    let prometheus: Prometheus | undefined;
    try {
      for (const value of [1, 2]) {
        const dir = await tempMetricsDir({ "sd.ts": gaugeModule("sd_value", value) });
        dirs.push(dir);
        const exporter = await startExporter({ metricsDir: dir });
        exporters.push(exporter);
        await waitForSample(exporter.url, "sd_value", value);
      }
      const [a, b] = exporters.map((e, i): Row => ({
        exporter: "ab"[i],
        instance: e.url.replace("http://", ""),
      }));
      const targets = [a, b].map(({ exporter, instance }) => ({ targets: [instance], labels: { exporter } }));
      prometheus = await startPrometheus(CONFIG, { files: { "targets.json": JSON.stringify(targets) } });
      const row = (name: string, target: Row, value: string, extra: Row = {}): Row => ({
        __name__: name,
        job: "dx_sd",
        ...target,
        ...extra,
        value,
      });
      const moduleUp = 'dynamic_exporter_module_up{module="sd"}';
      const moduleUpRow = (target: Row) => row("dynamic_exporter_module_up", target, "1", { module: "sd" });

      // Discovered targets reach the scrape manager on a fixed 5s tick (no flag for it in Prometheus
      // 2.42), so the first scrape comes 5-6s after start.
      const up = await prometheus.waitForQuery('up{job="dx_sd"}', (r) => r.length === 2, {
        timeoutMs: 20_000,
      });
      assert.deepEqual(rows(up), sorted([row("up", a, "1"), row("up", b, "1")]));
      const values = await prometheus.waitForQuery("sd_value", (r) => r.length === 2);
      assert.deepEqual(rows(values), sorted([row("sd_value", a, "1"), row("sd_value", b, "2")]));
      assert.deepEqual(rows(await prometheus.query(moduleUp)), sorted([moduleUpRow(a), moduleUpRow(b)]));

      await Deno.remove(`${dirs[0]}/sd.ts`);
      await waitForSample(exporters[0].url, "sd_value", undefined, 5000);
      await waitForSample(exporters[0].url, moduleUp, undefined, 5000);

      // The first scrape without a series writes a staleness marker for it, so an instant query
      // drops it a scrape (1s) later, not when the 5m lookback runs out: a deadline of a few intervals.
      const stale = await prometheus.waitForQuery("sd_value", (r) => r.length === 1, { timeoutMs: 5000 });
      assert.deepEqual(rows(stale), [row("sd_value", b, "2")]);
      const staleUp = await prometheus.waitForQuery(moduleUp, (r) => r.length === 1, { timeoutMs: 5000 });
      assert.deepEqual(rows(staleUp), [moduleUpRow(b)]);
      // Stale, not lost: the last real sample is still stored (range selectors skip the marker),
      // and the target itself is still scraped.
      const last = await prometheus.query('last_over_time(sd_value{exporter="a"}[1m])');
      assert.deepEqual(rows(last), [row("sd_value", a, "1")]);
      assert.deepEqual(
        rows(await prometheus.query('up{job="dx_sd"}')),
        sorted([row("up", a, "1"), row("up", b, "1")]),
      );
    } finally {
      await prometheus?.stop();
      for (const exporter of exporters) await exporter.stop("SIGKILL");
      for (const dir of dirs) await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
