import assert from "node:assert/strict";
import { moduleStatus } from "./_module_status.ts";
import { type LandingOptions, landingPage } from "./landing.ts";
import type { ModuleStatus } from "../status.ts";

const NOW = Date.parse("2025-01-02T03:04:05.000Z");
const OPTIONS: LandingOptions = {
  telemetryPath: "/metrics",
  version: "1.2.3",
  defaultIntervalMs: 10_000,
  now: NOW,
};

/** A module that loaded and ran fine 3 s before NOW; `change` makes it something else. */
function status(name: string, change: Partial<ModuleStatus> = {}): ModuleStatus {
  return moduleStatus(name, NOW, change);
}

/** A module row's first cell: its name, linking its own page. */
const nameCell = (name: string) => `<a href="module?name=${name}">${name}</a>`;

/** The page's line for module `name`: its row, and its detail row if it has one. */
function rowOf(html: string, name: string): string {
  const line = html.split("\n").find((l) =>
    l.startsWith("<tr class=") && l.includes(`">${name}</a></td><td>`)
  );
  assert.ok(line, `no row for ${name} in:\n${html}`);
  return line;
}

/** The counts cell of a healthy module named `name`, its file last. */
const countsOk = (name: string) =>
  "<dl><div><dt>errors</dt><dd>0</dd></div><div><dt>timeouts</dt><dd>0</dd></div>" +
  "<div><dt>overruns</dt><dd>0</dd></div><div><dt>loads</dt><dd>1</dd></div>" +
  `<div><dt>file</dt><dd><code>/srv/metrics/${name}.ts</code></dd></div></dl>`;
const RAN_3S_AGO =
  '<time datetime="2025-01-02T03:04:02.000Z" title="2025-01-02T03:04:02.000Z">3 s ago</time>';

Deno.test("landingPage shows a module that is up with every detail in one row", () => {
  const html = landingPage([status("disk")], OPTIONS);
  assert.equal(
    rowOf(html, "disk"),
    `<tr class="up"><td>${
      nameCell("disk")
    }</td><td>up</td><td>${RAN_3S_AGO}</td><td>12 ms</td><td>10s</td><td>5s</td>` +
      `<td><code>disk_<wbr>value</code></td><td>${countsOk("disk")}</td></tr>`,
  );
});

Deno.test("landingPage shows interval 0 as at scrape time", () => {
  const html = landingPage([status("onscrape", { intervalMs: 0, metricNames: ["a", "b"] })], OPTIONS);
  assert.equal(
    rowOf(html, "onscrape"),
    `<tr class="up"><td>${
      nameCell("onscrape")
    }</td><td>up</td><td>${RAN_3S_AGO}</td><td>12 ms</td><td>at scrape time</td>` +
      `<td>5s</td><td><code>a</code> <code>b</code></td><td>${countsOk("onscrape")}</td></tr>`,
  );
});

Deno.test("landingPage gives each state its badge", () => {
  const cases: [Partial<ModuleStatus>, string][] = [
    [{}, `<tr class="up"><td>${nameCell("m")}</td><td>up</td>`],
    [{ up: false }, `<tr class="down"><td>${nameCell("m")}</td><td>down</td>`],
    [
      { loaded: false, lastLoadSuccessful: false, up: false },
      `<tr class="failed"><td>${nameCell("m")}</td><td>failed</td>`,
    ],
    [{ lastLoadSuccessful: false }, `<tr class="stale"><td>${nameCell("m")}</td><td>reload failed</td>`],
    [{ lastRunAt: undefined }, `<tr class="pending"><td>${nameCell("m")}</td><td>not run yet</td>`],
  ];
  for (const [change, start] of cases) {
    const row = rowOf(landingPage([status("m", change)], OPTIONS), "m");
    assert.equal(row.slice(0, start.length), start, JSON.stringify(change));
  }
});

Deno.test("landingPage shows a run error with stage, message, file:line, hint and the last success", () => {
  const html = landingPage([
    status("probe", {
      up: false,
      lastSuccessAt: NOW - 3 * 3600_000,
      errors: { error: 4, timeout: 1 },
      overruns: 2,
      lastCountedAt: { error: NOW - 65_000, timeout: NOW - 3600_000, overrun: NOW - 3600_000 },
      lastError: {
        stage: "run",
        message: 'Requires net access to "db:5432", run again with the --allow-net flag',
        file: "/srv/metrics/probe.ts",
        line: 12,
        hint: "grant it with --allow-net in the exporter's permission flags",
        at: NOW - 65_000,
      },
    }),
  ], OPTIONS);
  assert.equal(
    rowOf(html, "probe"),
    `<tr class="down"><td>${nameCell("probe")}</td><td>down</td><td>${RAN_3S_AGO}<small>last success ` +
      `<time datetime="2025-01-02T00:04:05.000Z" title="2025-01-02T00:04:05.000Z">3 h ago</time></small></td>` +
      `<td>12 ms</td><td>10s</td><td>5s</td><td><code>probe_<wbr>value</code></td>` +
      `<td><dl><div class="bad"><dt>errors</dt><dd>4</dd></div><div class="bad"><dt>timeouts</dt><dd>1</dd></div>` +
      `<div class="bad"><dt>overruns</dt><dd>2</dd></div><div><dt>loads</dt><dd>1</dd></div>` +
      `<div><dt>file</dt><dd><code>/srv/metrics/probe.ts</code></dd></div></dl></td></tr>` +
      `<tr class="down detail"><td colspan="8"><p class="when">Last error, ` +
      `<time datetime="2025-01-02T03:03:00.000Z" title="2025-01-02T03:03:00.000Z">65 s ago</time></p>` +
      `<pre>run: Requires net access to &#34;db:5432&#34;, run again with the --allow-net flag ` +
      `<code>/srv/metrics/probe.ts:12</code></pre>` +
      `<p class="hint"><strong>Hint:</strong> grant it with --allow-net in the exporter&#39;s permission flags</p>` +
      `</td></tr>`,
  );
});

Deno.test("landingPage shows a module that never loaded with its load error and what that means", () => {
  const html = landingPage([
    status("broken", {
      loaded: false,
      lastLoadSuccessful: false,
      up: false,
      lastRunAt: undefined,
      lastDurationSeconds: undefined,
      lastSuccessAt: undefined,
      intervalMs: undefined,
      timeoutMs: undefined,
      metricNames: [],
      reloads: { success: 0, failure: 1 },
      lastError: {
        stage: "load",
        message: "SyntaxError: Unexpected token ';'",
        file: "/m/broken.ts",
        line: 3,
        at: NOW,
      },
    }),
  ], OPTIONS);
  const none = '<span class="none">—</span>';
  assert.equal(
    rowOf(html, "broken"),
    `<tr class="failed"><td>${
      nameCell("broken")
    }</td><td>failed</td><td><span class="none">never</span></td>` +
      `<td>${none}</td><td>${none}</td><td>${none}</td><td><span class="none">none</span></td>` +
      `<td><dl><div><dt>errors</dt><dd>0</dd></div><div><dt>timeouts</dt><dd>0</dd></div>` +
      `<div><dt>overruns</dt><dd>0</dd></div><div class="bad"><dt>loads</dt><dd>1, 1 failed</dd></div>` +
      `<div><dt>file</dt><dd><code>${"/srv/metrics/broken.ts"}</code></dd></div></dl></td></tr>` +
      `<tr class="failed detail"><td colspan="8"><p class="when">Last error, ` +
      `<time datetime="2025-01-02T03:04:05.000Z" title="2025-01-02T03:04:05.000Z">just now</time></p>` +
      `<pre>load: SyntaxError: Unexpected token &#39;;&#39; <code>/m/broken.ts:3</code></pre>` +
      `<p class="note">Nothing from this module is served until the file loads.</p></td></tr>`,
  );
});

Deno.test("landingPage escapes a hostile module name, metric name, file and error message", () => {
  const html = landingPage([
    status(`<script>alert("name")</script>`, {
      up: false,
      metricNames: ["<img src=x onerror=alert(1)>"],
      lastError: {
        stage: "run",
        message: "<script>alert('message')</script> & more",
        file: `/m/"><script>.ts`,
        hint: "<b>hint</b>",
        at: NOW,
      },
    }),
  ], { ...OPTIONS, telemetryPath: `/m"><script>`, version: "<script>" });
  assert.equal(/<script|<img|<b>/i.test(html), false, html);
  const row = rowOf(html, "&#60;script&#62;alert(&#34;name&#34;)&#60;/script&#62;");
  assert.ok(
    row.startsWith(
      '<tr class="down"><td><a href="module?name=%3Cscript%3Ealert(%22name%22)%3C%2Fscript%3E">' +
        "&#60;script&#62;alert(&#34;name&#34;)&#60;/script&#62;</a></td>",
    ),
    row,
  );
  assert.ok(row.includes("<td><code>&#60;img src=x onerror=alert(1)&#62;</code></td>"), row);
  assert.ok(
    row.includes(
      "<pre>run: &#60;script&#62;alert(&#39;message&#39;)&#60;/script&#62; &#38; more " +
        "<code>/m/&#34;&#62;&#60;script&#62;.ts</code></pre>" +
        '<p class="hint"><strong>Hint:</strong> &#60;b&#62;hint&#60;/b&#62;</p>',
    ),
    row,
  );
  assert.ok(html.includes('<a href="/m&#34;&#62;&#60;script&#62;">/m&#34;&#62;&#60;script&#62;</a>'));
  assert.ok(html.includes("<small>version &#60;script&#62;</small>"));
});

Deno.test("landingPage with no modules says how to add one", () => {
  const html = landingPage([], OPTIONS);
  assert.ok(
    html.includes(
      '<p class="summary">0 modules</p>',
    ),
    html,
  );
  assert.ok(
    html.includes(
      '<tbody>\n<tr><td class="empty" colspan="8">No modules yet. Put a <code>.ts</code> file that exports ' +
        "<code>process()</code> in the metrics dir and it loads within a second.</td></tr>\n</tbody>",
    ),
    html,
  );
  assert.ok(html.includes("<title>dynamic_exporter</title>"));
});

Deno.test("landingPage lists broken modules first and counts each state in the summary and title", () => {
  const html = landingPage([
    status("a_up"),
    status("b_down", { up: false }),
    status("c_pending", { lastRunAt: undefined }),
    status("d_failed", { loaded: false, lastLoadSuccessful: false, up: false }),
    status("e_stale", { lastLoadSuccessful: false }),
    status("f_down", { up: false }),
  ], OPTIONS);
  const order = [...html.matchAll(/<tr class="\w+"><td><a [^>]+>(\w+)<\/a><\/td>/g)].map((m) => m[1]);
  assert.deepEqual(order, ["d_failed", "e_stale", "b_down", "f_down", "c_pending", "a_up"]);
  assert.ok(
    html.includes(
      '<p class="summary bad">6 modules: <span class="s-up">1 up</span>, <span class="s-down">2 down</span>, ' +
        '<span class="s-failed">1 failed</span>, <span class="s-stale">1 reload failed</span>, ' +
        '<span class="s-pending">1 not run yet</span></p>',
    ),
    html,
  );
  assert.ok(html.includes("<title>4 broken · dynamic_exporter</title>"));
});

Deno.test("landingPage links the telemetry path, health and readiness, with the version", () => {
  const html = landingPage([], { ...OPTIONS, telemetryPath: "/probe" });
  assert.ok(
    html.includes(
      '<h1>dynamic_exporter <small>version 1.2.3</small></h1>\n<nav aria-label="Endpoints">' +
        '<span class="cta"><a href="/probe">/probe</a></span> <a href="/-/healthy">/-/healthy</a> ' +
        '<a href="/-/ready">/-/ready</a></nav>',
    ),
    html,
  );
  assert.ok(html.startsWith('<!DOCTYPE html>\n<html lang="en">\n'));
});

Deno.test("landingPage writes relative times from the injected now, coarser as they age", () => {
  const cases: [number, string][] = [
    [400, "just now"],
    [59_000, "59 s ago"],
    [119_000, "119 s ago"],
    [125_000, "2 min ago"],
    [2 * 3600_000, "2 h ago"],
    [3 * 86400_000, "3 d ago"],
  ];
  for (const [age, text] of cases) {
    const row = rowOf(landingPage([status("m", { lastRunAt: NOW - age })], OPTIONS), "m");
    const iso = new Date(NOW - age).toISOString();
    assert.ok(row.includes(`<td><time datetime="${iso}" title="${iso}">${text}</time></td>`), row);
  }
});

Deno.test("landingPage shows a stuck module as stuck, with what to do", () => {
  const html = landingPage([status("hang", { up: false, stuck: true })], OPTIONS);
  const row = rowOf(html, "hang");
  assert.match(row, /<td><a href="module\?name=hang">hang<\/a><\/td><td>stuck<\/td>/);
  assert.match(
    row,
    /3 calls abandoned at their timeout are still running: its process\(\) ignores ctx\.signal/,
  );
  assert.match(html, /<title>1 broken · dynamic_exporter<\/title>/);
});

Deno.test("landingPage shows when a failing module's retry is due", () => {
  const html = landingPage(
    [status("api", { up: false, lastSuccessAt: undefined, retrying: true, nextRunAt: NOW + 4000 })],
    OPTIONS,
  );
  assert.match(
    rowOf(html, "api"),
    /<small>retry <time datetime="2025-01-02T03:04:09.000Z"[^>]*>in 4 s<\/time><\/small>/,
  );
  const onGrid = landingPage([status("api", { retrying: false, nextRunAt: NOW + 4000 })], OPTIONS);
  assert.doesNotMatch(rowOf(onGrid, "api"), /retry/);
});

Deno.test("landingPage says when a module serves its previous version's values", () => {
  const html = landingPage([status("api", { up: false, servingPrevious: true })], OPTIONS);
  assert.match(
    rowOf(html, "api"),
    /The previous version's last values are served until this version's first/,
  );
});

Deno.test("landingPage lists ignored files by name with their reason, escaped, and no section when none", () => {
  const html = landingPage([status("a")], {
    ...OPTIONS,
    ignoredFiles: [
      { name: "legacy.py", path: "/srv/metrics/legacy.py", reason: "modules are TypeScript or JavaScript" },
      { name: "<b>.swp", path: "/srv/metrics/<b>.swp", reason: "editor backup or temporary file" },
    ],
  });
  assert.ok(
    html.includes(
      '<section class="ignored">\n<h2>Ignored files</h2>\n<ul>\n' +
        "<li><code>legacy.py</code>: modules are TypeScript or JavaScript</li>\n" +
        "<li><code>&#60;b&#62;.swp</code>: editor backup or temporary file</li>\n</ul>\n</section>\n</main>",
    ),
    html,
  );
  assert.equal(html.includes("/srv/metrics/legacy.py"), false, "the page shows file names, not paths");
  assert.equal(landingPage([status("a")], OPTIONS).includes("Ignored files"), false);
});

Deno.test("landingPage masks credentials in a module's error", () => {
  const html = landingPage([
    status("pg", {
      up: false,
      lastError: {
        stage: "run",
        message: "connect postgres://app:s3cret@db/x?sslpassword=k3y failed",
        file: "/srv/metrics/pg.ts",
        at: NOW - 1000,
      },
    }),
  ], OPTIONS);
  assert.match(
    rowOf(html, "pg"),
    /<pre>run: connect postgres:\/\/app:\*\*\*@db\/x\?sslpassword=\*\*\* failed <code>/,
  );
  assert.doesNotMatch(html, /s3cret|k3y/);
});

Deno.test("landingPage colours a count only while it is recent: since the last success or within the interval", () => {
  const healthy = status("healed", {
    errors: { error: 5, timeout: 2 },
    overruns: 1,
    reloads: { success: 2, failure: 1 },
    // The errors were an hour ago; it has succeeded since, every 10 s.
    lastCountedAt: { error: NOW - 3600_000, timeout: NOW - 3600_000, overrun: NOW - 3600_000 },
  });
  assert.match(
    rowOf(landingPage([healthy], OPTIONS), "healed"),
    /<dl><div><dt>errors<\/dt><dd>5<\/dd><\/div><div><dt>timeouts<\/dt><dd>2<\/dd><\/div><div><dt>overruns<\/dt><dd>1<\/dd><\/div><div><dt>loads<\/dt><dd>3, 1 failed<\/dd><\/div><div><dt>file<\/dt>/,
  );
  // An error 4 s ago on a module that succeeded 3 s ago: within its 10 s interval, so still news.
  const flapping = status("flap", { errors: { error: 1, timeout: 0 }, lastCountedAt: { error: NOW - 4000 } });
  assert.match(
    rowOf(landingPage([flapping], OPTIONS), "flap"),
    /<div class="bad"><dt>errors<\/dt><dd>1<\/dd>/,
  );
  const reloadFailing = status("edited", { lastLoadSuccessful: false, reloads: { success: 1, failure: 1 } });
  assert.match(
    rowOf(landingPage([reloadFailing], OPTIONS), "edited"),
    /<div class="bad"><dt>loads<\/dt><dd>2, 1 failed<\/dd>/,
  );
});

Deno.test("landingPage shows a module serving its previous version as such, and the summary never says 0 up then", () => {
  const html = landingPage([status("api", { up: false, servingPrevious: true })], OPTIONS);
  assert.match(
    rowOf(html, "api"),
    /^<tr class="previous"><td><a href="module\?name=api">api<\/a><\/td><td>serving previous<\/td>/,
  );
  assert.ok(
    html.includes('<p class="summary bad">1 module: <span class="s-previous">1 serving previous</span></p>'),
    html,
  );
  const nothing = landingPage([status("api", { up: false })], OPTIONS);
  assert.ok(
    nothing.includes(
      '<p class="summary bad">1 module: <span class="s-zero">0 up</span>, <span class="s-down">1 down</span></p>',
    ),
    nothing,
  );
});

Deno.test("landingPage collapses a long metric list and lets names wrap only between words", () => {
  const names = Array.from({ length: 12 }, (_, i) => `zstack_availableHostCount${i}`);
  const row = rowOf(landingPage([status("zstack", { metricNames: names })], OPTIONS), "zstack");
  assert.ok(
    row.includes(
      `<td><details><summary>12 metrics</summary>${
        names.map((n) =>
          `<code>${
            n.replace("_", "_<wbr>").replace("available", "available<wbr>")
              .replace("Host", "Host<wbr>")
          }</code>`
        ).join(" ")
      }</details></td>`,
    ),
    row,
  );
  const short = rowOf(landingPage([status("few", { metricNames: ["a_b", "c", "d"] })], OPTIONS), "few");
  assert.ok(short.includes("<td><code>a_<wbr>b</code> <code>c</code> <code>d</code></td>"), short);
});

Deno.test("landingPage shows a quarantined module as such, with why and what to do", () => {
  const html = landingPage([
    status("spin", { up: false, quarantined: "its run ended its host 3 times in a row" }),
  ], OPTIONS);
  const row = rowOf(html, "spin");
  assert.match(row, /<td><a href="module\?name=spin">spin<\/a><\/td><td>quarantined<\/td>/);
  assert.match(row, /not run again until its file or a helper it imports changes/);
  assert.match(row, /its run ended its host 3 times in a row/);
  assert.match(html, /<span class="s-quarantined">1 quarantined<\/span>/);
});

Deno.test("landingPage shows each module's host and permissions, and refreshes itself only when asked", () => {
  const html = landingPage([
    status("boxed", {
      host: { placement: "sandboxed", permissions: "read=/srv/metrics/boxed.ts", restarts: 2 },
    }),
  ], OPTIONS);
  assert.ok(
    rowOf(html, "boxed").includes(
      `<div title="permissions: read=/srv/metrics/boxed.ts"><dt>host</dt><dd>own, sandboxed, 2 restarts</dd></div>`,
    ),
  );
  assert.ok(!html.includes(`http-equiv="refresh"`));
  assert.ok(
    landingPage([], { ...OPTIONS, refreshSeconds: 10 }).includes(`<meta http-equiv="refresh" content="10">`),
  );
});

Deno.test("landingPage shows a module past its maxAge as stale, and says why", () => {
  const html = landingPage([
    status("orders", {
      up: false,
      expired: true,
      maxAgeMs: 3600_000,
      lastSuccessAt: NOW - 2 * 3600_000 - 5000,
    }),
  ], OPTIONS);
  const line = rowOf(html, "orders");
  assert.match(
    line,
    /^<tr class="expired"><td><a href="module\?name=orders">orders<\/a><\/td><td>stale<\/td>/,
  );
  assert.ok(
    line.includes(
      `<tr class="expired detail"><td colspan="8"><p class="note">stale: last success ` +
        `<time datetime="2025-01-02T01:04:00.000Z" title="2025-01-02T01:04:00.000Z">2 h ago</time>, ` +
        `over its maxAge of 1h. None of its series are served until its next successful run.</p></td></tr>`,
    ),
    line,
  );
  assert.ok(
    html.includes(
      '<p class="summary bad">1 module: <span class="s-zero">0 up</span>, <span class="s-expired">1 stale</span></p>',
    ),
  );
});

Deno.test("landingPage folds a module's last runs with their log lines into its detail row", () => {
  const html = landingPage([status("disk")], {
    ...OPTIONS,
    runs: (name) =>
      name !== "disk" ? [] : [
        {
          startedAt: NOW - 3000,
          durationSeconds: 0.0123,
          outcome: "error",
          error: "HTTP 500 <from backend>",
          lines: [{ at: NOW - 2995, level: "info", text: "fetching url=http://db/" }],
          droppedLines: 2,
        },
        { startedAt: NOW - 13_000, durationSeconds: 0.01, outcome: "success", lines: [], droppedLines: 0 },
      ],
  });
  const start = html.indexOf(`<tr class="up detail">`);
  assert.equal(
    html.slice(start, html.indexOf("</tr>", start) + 5),
    `<tr class="up detail"><td colspan="8"><details class="runs"><summary>Last 2 runs, 1 failed</summary><ol>` +
      `<li class="run-bad"><p>${RAN_3S_AGO} <strong>error</strong> after 12 ms</p>` +
      `<pre>HTTP 500 &#60;from backend&#62;</pre>` +
      `<pre class="log">03:04:02.005 info fetching url=http://db/\n(2 more lines not kept)</pre></li>` +
      `<li class="run-ok"><p><time datetime="2025-01-02T03:03:52.000Z" title="2025-01-02T03:03:52.000Z">13 s ago</time> ` +
      `<strong>success</strong> after 10 ms</p><p class="none">no log lines</p></li></ol></details></td></tr>`,
  );
});

Deno.test("landingPage lists recent probes with target, result, duration and error, credentials masked", () => {
  const now = Date.parse("2026-01-01T00:00:10Z");
  const html = landingPage([status("api")], {
    ...OPTIONS,
    now,
    probes: [
      {
        module: "api",
        target: "http://user:secret@a.internal/",
        success: false,
        durationSeconds: 1.5,
        error: "<down>",
        at: now - 2000,
      },
      { module: "api", target: "http://b.internal/", success: true, durationSeconds: 0.02, at: now - 5000 },
    ],
  });
  assert.ok(
    html.includes(
      '<section class="probes">\n<h2>Recent probes</h2>\n<table>\n<thead><tr><th scope="col">Module</th>' +
        '<th scope="col">Target</th><th scope="col">Result</th><th scope="col">Duration</th>' +
        '<th scope="col">When</th><th scope="col">Error</th></tr></thead>\n<tbody>\n' +
        '<tr class="failed"><td>api</td><td><code>http://user:***@a.internal/</code></td><td>failure</td>' +
        '<td>1.50 s</td><td><time datetime="2026-01-01T00:00:08.000Z" title="2026-01-01T00:00:08.000Z">2 s ago</time></td>' +
        "<td>&#60;down&#62;</td></tr>\n" +
        '<tr class="up"><td>api</td><td><code>http://b.internal/</code></td><td>success</td><td>20 ms</td>' +
        '<td><time datetime="2026-01-01T00:00:05.000Z" title="2026-01-01T00:00:05.000Z">5 s ago</time></td>' +
        "<td></td></tr>\n</tbody>\n</table>\n</section>\n</main>",
    ),
    html,
  );
  assert.equal(landingPage([status("api")], OPTIONS).includes("Recent probes"), false);
});

Deno.test("landingPage shows a probe-only module up, never run, with no interval but probes only", () => {
  const html = landingPage(
    [status("prober", {
      probeOnly: true,
      lastRunAt: undefined,
      lastSuccessAt: undefined,
      lastDurationSeconds: undefined,
    })],
    OPTIONS,
  );
  const row = rowOf(html, "prober");
  assert.ok(row.startsWith(`<tr class="up"><td>${nameCell("prober")}</td><td>`), row);
  assert.ok(row.includes("<td>probes only</td>"), row);
});
