/** The exposition of a fixture dir, checked by Prometheus' own tools in both formats. */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { hasCommand, promtoolCheck } from "./_promtool.ts";
import { type Prometheus, startPrometheus } from "./_prometheus.ts";
import { startExporter, waitForSample } from "./_server.ts";

const FIXTURES = fileURLToPath(new URL("fixtures/exposition", import.meta.url));

const hasPromtool = await hasCommand("promtool");
const hasPrometheus = await hasCommand("prometheus");
if (!hasPromtool) {
  console.warn("skipping the promtool test: promtool is not installed (apt-get install prometheus)");
}
if (!hasPrometheus) console.warn("skipping the Prometheus scrape test: prometheus is not installed");

Deno.test({
  name: "the text exposition of the fixture dir passes promtool check metrics",
  ignore: !hasPromtool,
  async fn() {
    const e = await startExporter({ metricsDir: FIXTURES });
    try {
      await waitForSample(e.url, 'fixture_special{kind="small"}', 1.5e-9);
      const body = await (await fetch(`${e.url}/metrics`)).text();
      assert.match(body, /^fixture_special\{kind="nan"\} NaN$/m);
      assert.match(body, /^fixture_requests_total\{path="quote\\"and\\\\back\\nslash",code="500"\} 1$/m);
      assert.deepEqual(await promtoolCheck(body), { code: 0, stdout: "", stderr: "" });
    } finally {
      await e.stop("SIGKILL");
    }
  },
});

Deno.test({
  name: "a real Prometheus scrapes the fixture dir as OpenMetrics and stores every family",
  ignore: !hasPrometheus,
  async fn() {
    const e = await startExporter({ metricsDir: FIXTURES });
    const target = e.url.replace("http://", "");
    let prometheus: Prometheus | undefined;
    try {
      prometheus = await startPrometheus(
        `global: { scrape_interval: 1s, scrape_timeout: 1s }\nscrape_configs:\n  - job_name: dx\n    static_configs: [{ targets: ["${target}"] }]\n`,
      );
      const { query, url: api } = prometheus;
      const results = await prometheus.waitForQuery(
        'fixture_requests_total{code="200"}',
        (results) => results.length === 1,
        { timeoutMs: 30_000 },
      );
      assert.equal(results[0].value[1], "5");
      assert.equal((await query("up"))[0].value[1], "1");
      assert.equal((await query('fixture_latency_seconds_bucket{le="+Inf"}'))[0].value[1], "2");
      assert.equal((await query('fixture_payload_bytes{quantile="0.5"}'))[0].value[1], "200");
      assert.equal((await query('fixture_special{kind="inf"}'))[0].value[1], "+Inf");
      // The counter's metadata carries the OpenMetrics family name (no _total): OpenMetrics was negotiated.
      const metadata = await (await fetch(`${api}/api/v1/metadata?metric=fixture_requests`)).json();
      assert.deepEqual(metadata.data.fixture_requests?.[0]?.type, "counter", JSON.stringify(metadata));
    } finally {
      await prometheus?.stop();
      await e.stop("SIGKILL");
    }
  },
});
