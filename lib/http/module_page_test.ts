import assert from "node:assert/strict";
import { moduleStatus } from "./_module_status.ts";
import type { MetricFamily } from "../exposition/format.ts";
import type { RunRecord } from "../run_history.ts";
import type { ModuleStatus } from "../status.ts";
import { MAX_SHOWN_SERIES, modulePage, type ModulePageOptions } from "./module_page.ts";

const NOW = Date.parse("2025-01-02T03:04:05.000Z");
const OPTIONS: ModulePageOptions = { telemetryPath: "/metrics", version: "1.2.3", now: NOW };

/** A module that loaded and ran fine 3 s before NOW, in the shared host; `change` makes it something else. */
function status(name: string, change: Partial<ModuleStatus> = {}): ModuleStatus {
  return moduleStatus(name, NOW, {
    lastSuccessAt: NOW - 3000,
    host: { placement: "shared", permissions: "read, net, env", restarts: 0 },
    ...change,
  });
}

function gauge(name: string, values: MetricFamily["values"]): MetricFamily {
  return { name, help: `Gauge ${name}.`, type: "gauge", values };
}

/** The page's "Served series" section. */
function seriesSection(html: string): string {
  const start = html.indexOf('<section id="series">');
  assert.ok(start >= 0, html);
  return html.slice(start, html.indexOf("</section>", start) + "</section>".length);
}

const THREE_S_AGO =
  '<time datetime="2025-01-02T03:04:02.000Z" title="2025-01-02T03:04:02.000Z">3 s ago</time>';

Deno.test("modulePage shows each served series with its value, as the exposition writes them", () => {
  const html = modulePage(status("orders"), {
    ...OPTIONS,
    served: {
      atScrape: false,
      families: [
        gauge("orders_depth", [{ labels: { queue: "a" }, value: 3 }, { labels: { queue: "b" }, value: NaN }]),
        { name: "orders_seen_total", help: "", type: "counter", values: [{ value: 12 }] },
      ],
    },
  });
  assert.equal(
    seriesSection(html),
    '<section id="series">\n<h2>Served series</h2>\n' +
      '<p class="when">3 series. The values as <a href="/metrics">/metrics</a> serves them.</p>\n' +
      '<div class="family"><h3><code>orders_depth</code> <small>gauge, 2 series</small></h3>' +
      '<p class="help">Gauge orders_depth.</p><ol class="series">' +
      '<li><code>orders_depth{queue=&#34;a&#34;}</code><span class="v">3</span></li>' +
      '<li><code>orders_depth{queue=&#34;b&#34;}</code><span class="v">NaN</span></li></ol></div>\n' +
      '<div class="family"><h3><code>orders_seen_total</code> <small>counter, 1 series</small></h3>' +
      '<ol class="series"><li><code>orders_seen_total</code><span class="v">12</span></li></ol></div>\n' +
      "</section>",
  );
});

Deno.test("modulePage escapes label values, help, names and the error as HTML", () => {
  const html = modulePage(
    status(`<script>alert("name")</script>`, {
      up: false,
      file: `/m/"><script>.ts`,
      lastError: { stage: "run", message: "<script>alert(1)</script>", file: "/m/x.ts", line: 3, at: NOW },
    }),
    {
      ...OPTIONS,
      version: "<script>",
      served: {
        atScrape: false,
        families: [{
          name: "x_value",
          help: "<b>help</b>",
          type: "gauge",
          values: [{ labels: { target: `<script>alert("label")</script>`, other: "<img src=x>" }, value: 1 }],
        }],
      },
      runs: [{
        startedAt: NOW - 3000,
        durationSeconds: 0.5,
        outcome: "error",
        error: "<script>run</script>",
        lines: [{ at: NOW - 2900, level: "info", text: "<script>line</script>" }],
        droppedLines: 0,
      }],
    },
  );
  assert.equal(/<script|<img|<b>/i.test(html), false, html);
  assert.ok(
    html.includes(
      "<li><code>x_value{target=&#34;&#60;script&#62;alert(\\&#34;label\\&#34;)&#60;/script&#62;&#34;," +
        'other=&#34;&#60;img src=x&#62;&#34;}</code><span class="v">1</span></li>',
    ),
    html,
  );
  assert.ok(
    html.includes(
      "<title>&#60;script&#62;alert(&#34;name&#34;)&#60;/script&#62; · down · dynamic_exporter</title>",
    ),
  );
  assert.ok(
    html.includes("<pre>run: &#60;script&#62;alert(1)&#60;/script&#62; <code>/m/x.ts:3</code></pre>"),
    html,
  );
  assert.ok(
    html.includes('<pre class="log">03:04:02.100 info &#60;script&#62;line&#60;/script&#62;</pre>'),
    html,
  );
});

Deno.test(`modulePage shows at most ${MAX_SHOWN_SERIES} series and says how many more there are`, () => {
  const many = (name: string, n: number) =>
    gauge(name, Array.from({ length: n }, (_, i) => ({ labels: { i: String(i) }, value: i })));
  const html = modulePage(status("big"), {
    ...OPTIONS,
    served: { atScrape: false, families: [many("big_a", 150), many("big_b", 100), many("big_c", 5)] },
  });
  const section = seriesSection(html);
  assert.equal(section.match(/<li>/g)?.length, MAX_SHOWN_SERIES);
  assert.ok(
    section.includes('<span class="v">149</span>') && section.includes("big_b{i=&#34;49&#34;}"),
    section,
  );
  assert.equal(section.includes("big_b{i=&#34;50&#34;}"), false, "the 201st series is not shown");
  assert.equal(
    section.includes("big_c"),
    false,
    "a family past the bound has no heading with nothing under it",
  );
  assert.ok(section.includes('<p class="when">255 series.'), section);
  assert.ok(
    section.includes(
      '<p class="note">55 more series not shown (the first 200 are); <a href="/metrics">/metrics</a> serves them all.</p>',
    ),
    section,
  );
});

Deno.test("modulePage cuts a series longer than MAX_SERIES_CHARS", () => {
  const html = modulePage(status("long"), {
    ...OPTIONS,
    served: {
      atScrape: false,
      families: [gauge("long_value", [{ labels: { doc: "x".repeat(5000) }, value: 1 }])],
    },
  });
  const series = seriesSection(html).match(/<li><code>([^<]*)<\/code>/)![1];
  assert.equal(series, `long_value{doc=&#34;${"x".repeat(1000 - 'long_value{doc="'.length - 1)}…`);
});

Deno.test("modulePage says which families the exposition leaves out, and why", () => {
  const html = modulePage(status("bad"), {
    ...OPTIONS,
    served: {
      atScrape: false,
      families: [
        gauge("bad_ok", [{ value: 1 }]),
        gauge("bad_label", [{ labels: { __name__: "y" }, value: 1 }]),
      ],
    },
  });
  const section = seriesSection(html);
  assert.ok(section.includes('<p class="when">1 series.'), section);
  assert.equal(section.includes("bad_label{"), false, section);
  assert.ok(
    section.includes(
      '<p class="note">Left out of the exposition: metric &#34;bad_label&#34;: label name &#34;__name__&#34; ' +
        "must not start with &#34;__&#34; (reserved for internal use)</p>",
    ),
    section,
  );
});

Deno.test("modulePage says why nothing is served", () => {
  const none = (m: ModuleStatus, served?: ModulePageOptions["served"]) =>
    seriesSection(modulePage(m, { ...OPTIONS, served })).match(/<p class="none">(.*)<\/p>/)![1];
  assert.equal(none(status("m", { loaded: false, up: false })), "None: its file has not loaded.");
  assert.equal(
    none(status("m", { expired: true, up: false, maxAgeMs: 3_600_000 })),
    "None: its last success is older than its maxAge.",
  );
  assert.equal(
    none(status("m", { lastRunAt: undefined, lastSuccessAt: undefined })),
    "None yet: its series are served after its first successful run.",
  );
  assert.equal(
    none(status("m"), { atScrape: true }),
    "Its values are computed at scrape time (<code>collect()</code>); no scrape has read them yet.",
  );
});

Deno.test("modulePage lists the module's facts: file, host, interval, timeout, maxAge, runs and counts", () => {
  const html = modulePage(
    status("api", {
      up: false,
      lastSuccessAt: NOW - 60_000,
      maxAgeMs: 3_600_000,
      nextRunAt: NOW + 2000,
      retrying: true,
      errors: { error: 4, timeout: 1 },
      reloads: { success: 2, failure: 1 },
      host: { placement: "sandboxed", permissions: "net=api.internal:443", restarts: 2 },
    }),
    OPTIONS,
  );
  const facts = html.match(/<dl class="facts">.*<\/dl>/)![0];
  const fact = (term: string, value: string) => `<div><dt>${term}</dt><dd>${value}</dd></div>`;
  const at = (ms: number, text: string) => {
    const iso = new Date(ms).toISOString();
    return `<time datetime="${iso}" title="${iso}">${text}</time>`;
  };
  assert.equal(
    facts,
    '<dl class="facts">' +
      fact("File", "<code>/srv/metrics/api.ts</code>") +
      fact(
        "Host",
        "a host of its own, sandboxed; permissions <code>net=api.internal:443</code>; 2 restarts",
      ) +
      fact("Interval", "10s") +
      fact("Timeout", "5s") +
      fact(
        "maxAge",
        `1h: without a success, its values stop being served ${at(NOW - 60_000 + 3_600_000, "in 59 min")}`,
      ) +
      fact("Last run", `${THREE_S_AGO}, took 12 ms`) +
      fact("Last success", at(NOW - 60_000, "60 s ago")) +
      fact("Retry", at(NOW + 2000, "in 2 s")) +
      fact("Counts", "4 errors, 1 timeout, 0 overruns, 3 loads (1 failed)") +
      "</dl>",
  );
  assert.ok(html.includes('<h1>api<span class="badge down">down</span>'), html);
  assert.ok(
    modulePage(status("off"), OPTIONS).includes(
      fact("maxAge", "off: the last good values serve until the next success"),
    ),
  );
});

Deno.test("modulePage shows the last runs unfolded, with their errors and log lines", () => {
  const runs: RunRecord[] = [{
    startedAt: NOW - 3000,
    durationSeconds: 0.25,
    outcome: "error",
    error: "backend unreachable",
    lines: [{ at: NOW - 2990, level: "info", text: "fetching url=http://backend/" }],
    droppedLines: 2,
  }, {
    startedAt: NOW - 13_000,
    durationSeconds: 0.012,
    outcome: "success",
    lines: [],
    droppedLines: 0,
  }];
  const html = modulePage(status("api", { up: false }), { ...OPTIONS, runs });
  const start = html.indexOf('<section id="runs">');
  assert.equal(
    html.slice(start, html.indexOf("</section>", start)),
    '<section id="runs">\n<h2>Last runs</h2>\n' +
      '<details class="runs" open><summary>Last 2 runs, 1 failed</summary><ol>' +
      `<li class="run-bad"><p>${THREE_S_AGO} <strong>error</strong> after 250 ms</p>` +
      "<pre>backend unreachable</pre>" +
      '<pre class="log">03:04:02.010 info fetching url=http://backend/\n(2 more lines not kept)</pre></li>' +
      '<li class="run-ok"><p><time datetime="2025-01-02T03:03:52.000Z" title="2025-01-02T03:03:52.000Z">13 s ago</time> ' +
      '<strong>success</strong> after 12 ms</p><p class="none">no log lines</p></li></ol></details>\n',
  );
  assert.ok(
    modulePage(status("new", { lastRunAt: undefined }), OPTIONS).includes(
      '<section id="runs">\n<h2>Last runs</h2>\n<p class="none">No run yet.</p>\n</section>',
    ),
  );
});
