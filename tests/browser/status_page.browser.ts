/**
 * End to end in a real browser: the landing page as a person sees it, against the real exporter.
 * Not a `_test.ts` file: tests/status_page_test.ts runs it in its own `deno test -A` (see there).
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { browserMissing, withBrowser, withScreenshotDir } from "./_browser.ts";
import { gaugeModule, waitFor, withExporter } from "../_server.ts";

const missing = await browserMissing();
if (missing) throw new Error(`cannot run the browser test: ${missing}`);

// The page must point at these lines: the throw is on line 4, the syntax error on line 2.
const FAILING = `import { Gauge } from "prom-client";
const up = new Gauge({ name: "backend_up", help: "Whether the backend answered." });
export function process() {
  throw new Error("backend unreachable");
}
`;
const SYNTAX = `export function process() {
  const x = ;
}
`;

/** The module's main row (not its detail row), found by the name in its first cell. */
function moduleRow(page: Page, name: string) {
  return page.locator("tbody tr:not(.detail)").filter({
    has: page.locator("td:first-child", { hasText: new RegExp(`^${name}$`) }),
  });
}

/** The lines of the module's last error as shown: message, then file:line (not the errors of its folded last runs). */
async function errorLines(page: Page, name: string): Promise<string[]> {
  const text = await moduleRow(page, name).locator("xpath=following-sibling::tr[1]").locator(
    ":scope > td > pre",
  )
    .innerText();
  return text.split("\n").map((line) => line.trim());
}

/** The colour of the state badge of the first row in `state`, as the browser computed it. */
function badgeColour(page: Page, state: string): Promise<string> {
  return page.evaluate<string>(
    `getComputedStyle(document.querySelector("tr.${state} > td:nth-child(2)"), "::before").backgroundColor`,
  );
}

Deno.test({
  name: "the status page shows which module fails, why and where, and links the metrics",
  fn: () =>
    withExporter(
      { "good.ts": gaugeModule("good_value", 7), "failing.ts": FAILING, "syntax.ts": SYNTAX },
      (e, dir) =>
        withBrowser(async (browser) => {
          const page = await browser.newPage({
            viewport: { width: 1280, height: 800 },
            colorScheme: "light",
          });
          let summary = "";
          // The page does not refresh itself: reload until every module has run or failed.
          await waitFor(async () => {
            await page.goto(`${e.url}/`);
            summary = await page.locator(".summary").innerText();
            return summary === "3 modules: 1 up, 1 down, 1 failed";
          }, { timeoutMs: 10_000, intervalMs: 100, message: () => `the page still says "${summary}"` });

          assert.equal(await page.title(), "2 broken · dynamic_exporter");
          assert.deepEqual(
            await page.locator("tbody tr:not(.detail) > td:first-child").allInnerTexts(),
            ["syntax", "failing", "good"],
            "broken modules come first",
          );

          const failing = await moduleRow(page, "failing").locator("td").allInnerTexts();
          assert.deepEqual([failing[0], failing[1], failing[6]], ["failing", "down", "backend_up"]);
          assert.deepEqual(await errorLines(page, "failing"), [
            "run: backend unreachable",
            `${dir}/failing.ts:4`,
          ]);

          const syntax = await moduleRow(page, "syntax").locator("td").allInnerTexts();
          assert.deepEqual([syntax[0], syntax[1]], ["syntax", "failed"]);
          assert.deepEqual(await errorLines(page, "syntax"), [
            // Found by the sandbox declaration's parser, before Deno's own.
            "load: SyntaxError: Unexpected token (at 2:13, parsing the module for the sandbox declaration)",
            `${dir}/syntax.ts:2`,
          ]);

          const good = await moduleRow(page, "good").locator("td").allInnerTexts();
          assert.deepEqual([good[0], good[1], good[6]], ["good", "up", "good_value"]);

          assert.deepEqual(
            [
              await badgeColour(page, "up"),
              await badgeColour(page, "down"),
              await badgeColour(page, "failed"),
            ],
            ["rgb(26, 127, 55)", "rgb(207, 34, 46)", "rgb(164, 14, 38)"],
            "each state has its own badge colour",
          );

          await withScreenshotDir(async (shots, saved) => {
            const shot = `${shots}/three-modules.png`;
            await page.screenshot({ path: shot, fullPage: true });
            saved(shot);

            // At phone width the rows become cards: nothing may need scrolling sideways.
            await page.setViewportSize({ width: 390, height: 844 });
            assert.equal(await page.evaluate<number>("document.documentElement.scrollWidth"), 390);
            const narrow = `${shots}/three-modules-narrow.png`;
            await page.screenshot({ path: narrow, fullPage: true });
            saved(narrow);
          });

          await page.getByRole("link", { name: "/metrics", exact: true }).click();
          await page.waitForURL(`${e.url}/metrics`);
          assert.match(await page.locator("body").innerText(), /^good_value 7$/m);
        }),
    ),
});

// Issue 11: a module owning 12 metrics, 20 modules, 1280x900.
const ZSTACK_METRICS = [
  "zstack_availableHostCount",
  "zstack_availableMemoryCapacityBytes",
  "zstack_availableCpuCapacity",
  "zstack_primaryStorageAvailableCapacityBytes",
  "zstack_backupStorageAvailableCapacityBytes",
  "zstack_runningVmCount",
  "zstack_stoppedVmCount",
  "zstack_l3NetworkIpAddressAvailableCount",
  "zstack_virtualRouterCount",
  "zstack_volumeSnapshotTotalSizeBytes",
  "zstack_managementNodeUp",
  "zstack_apiRequestDurationSeconds",
];
const ZSTACK = `import { Gauge } from "prom-client";
${
  ZSTACK_METRICS.map((name, i) => `const g${i} = new Gauge({ name: "${name}", help: "ZStack ${name}." });`)
    .join("\n")
}
export function process() {
  throw new Error("zstack API unreachable: connect ECONNREFUSED 10.0.0.5:8080");
}
`;
// Fails its first run, succeeds from the retry on (about 1 s later).
const HEALED = `import { Gauge } from "prom-client";
const g = new Gauge({ name: "healed_value", help: "Fails once, then works." });
let runs = 0;
export const interval = "1s";
export function process() {
  if (runs++ === 0) throw new Error("first run fails");
  g.set(1);
}
`;

/**
 * Where a metric name wraps inside a word, as laid out: a break is fine only after an underscore
 * or before the capital of a camelCase hump.
 */
const MID_WORD_BREAKS = `(() => {
  const bad = [];
  for (const code of document.querySelectorAll("tbody tr:not(.detail) > td:nth-child(7) code")) {
    const range = document.createRange();
    const walker = document.createTreeWalker(code, NodeFilter.SHOW_TEXT);
    let top = null, last = "";
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (let i = 0; i < node.length; i++) {
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rect = range.getClientRects()[0];
        if (!rect) continue;
        const between = last === "_" || (/[a-z0-9]/.test(last) && /[A-Z]/.test(node.data[i]));
        if (top !== null && rect.top > top + 2 && !between) bad.push(code.textContent + " before " + node.data[i]);
        top = rect.top;
        last = node.data[i];
      }
    }
  }
  return bad;
})()`;

Deno.test({
  name: "at 1280x900 with 20 modules, the failing one's error is in view, long lists fold, names stay whole",
  fn: () => {
    const files: Record<string, string> = { "zstack.ts": ZSTACK, "healed.ts": HEALED };
    files["previous.ts"] = gaugeModule("previous_value", 1);
    for (let i = 1; i <= 17; i++) {
      files[`host_${String(i).padStart(2, "0")}.ts`] = gaugeModule(`host_${i}_up`, 1);
    }
    return withExporter(files, (e, dir) =>
      withBrowser(async (browser) => {
        // A changed file whose new version fails: the previous version's values keep serving.
        await waitFor(async () =>
          (await (await fetch(`${e.url}/metrics`)).text()).includes("previous_value 1")
        );
        await Deno.writeTextFile(
          `${dir}/previous.ts`,
          gaugeModule("previous_value", 2).replace("g.set(2);", 'throw new Error("new version fails");'),
        );

        const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: "light" });
        let summary = "";
        let healedErrors = "";
        const WANT = "20 modules: 18 up, 1 serving previous, 1 down";
        await waitFor(async () => {
          await page.goto(`${e.url}/`);
          summary = await page.locator(".summary").innerText();
          healedErrors = await moduleRow(page, "healed").locator("dl div").first().getAttribute("class") ??
            "";
          // The healed module's error must be older than its 1 s interval: no longer news.
          return summary === WANT && healedErrors === "";
        }, {
          timeoutMs: 15_000,
          intervalMs: 200,
          message: () => `the page says "${summary}", healed errors class "${healedErrors}"`,
        });

        await withScreenshotDir(async (shots, saved) => {
          const shot = `${shots}/twenty-modules-1280x900.png`;
          await page.screenshot({ path: shot }); // the viewport: what a person sees without scrolling
          saved(shot);
          assert.ok((await Deno.stat(shot)).size > 10_000, "a real screenshot");
          // Nothing needs scrolling sideways: a long file path in the counts wraps (it made 1315 px).
          assert.deepEqual(
            await page.evaluate<number[]>(
              "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]",
            ),
            [1280, 1280],
          );

          // The failing module comes first and its error box is on screen, whole.
          assert.deepEqual(
            (await page.locator("tbody tr:not(.detail) > td:first-child").allInnerTexts()).slice(0, 2),
            ["zstack", "previous"],
          );
          const errorBox = moduleRow(page, "zstack").locator("xpath=following-sibling::tr[1]").locator(
            ":scope > td > pre",
          );
          assert.deepEqual(await errorLines(page, "zstack"), [
            "run: zstack API unreachable: connect ECONNREFUSED 10.0.0.5:8080",
            `${dir}/zstack.ts:15`,
          ]);
          const box = await errorBox.boundingBox();
          assert.ok(box && box.y >= 0 && box.y + box.height <= 900, `error box at ${JSON.stringify(box)}`);

          // Its 12 metrics are folded into one line that says how many.
          const folded = moduleRow(page, "zstack").locator("td:nth-child(7) details");
          assert.equal(await folded.locator("summary").innerText(), "12 metrics");
          assert.equal(await folded.getAttribute("open"), null, "folded");

          // A module serving its previous version says so; the summary never says "0 up".
          const previous = await moduleRow(page, "previous").locator("td").allInnerTexts();
          assert.equal(previous[1], "serving previous");
          assert.doesNotMatch(summary, /\b0 up\b/);

          // Counts are red only while recent: the failing module's are, the healed one's are not.
          assert.equal(
            await moduleRow(page, "zstack").locator("dl div").first().getAttribute("class"),
            "bad",
          );
          assert.deepEqual(
            await moduleRow(page, "healed").locator("dl div").first().innerText(),
            "errors\n1",
          );

          // Unfolded, at desktop and at phone width, a name wraps only between its words.
          await folded.locator("summary").click();
          assert.deepEqual(await page.evaluate<string[]>(MID_WORD_BREAKS), []);
          await page.setViewportSize({ width: 390, height: 844 });
          assert.equal(await page.evaluate<number>("document.documentElement.scrollWidth"), 390);
          assert.deepEqual(await page.evaluate<string[]>(MID_WORD_BREAKS), []);
          const narrow = `${shots}/twenty-modules-390-unfolded.png`;
          await page.screenshot({ path: narrow });
          saved(narrow);
        });
      }));
  },
});

// Logs a line far wider than the page (a URL has no space to wrap at), then fails.
const LOUD = `export const interval = "500ms";
export function process(ctx) {
  ctx.log.info("fetching", { url: "http://backend.internal/" + "x".repeat(400) });
  console.log("a console line");
  throw new Error("backend unreachable");
}
`;

Deno.test({
  name: "at 1280x900 a failing module's last runs unfold with their log lines, nothing sideways",
  fn: () =>
    withExporter({ "loud.ts": LOUD }, (e) =>
      withBrowser(async (browser) => {
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: "light" });
        const runs = page.locator("tr.detail details.runs");
        await waitFor(async () => {
          await page.goto(`${e.url}/`);
          // Every run fails: 2 or more, up to the 10 failed runs kept (reached first on a loaded machine).
          const [, n, failed] =
            /^Last (\d+) runs, (\d+) failed$/.exec(await runs.locator("summary").innerText()) ??
              [];
          return Number(n) >= 2 && failed === n;
        }, { timeoutMs: 10_000, intervalMs: 200 });
        assert.equal(await runs.locator("pre.log").first().isVisible(), false, "folded until asked");
        await runs.locator("summary").click();
        const log = runs.locator("pre.log").first();
        const lines = (await log.innerText()).split("\n");
        assert.match(lines[0], /^\d\d:\d\d:\d\d\.\d{3} info fetching url=http:\/\/backend\.internal\/x+…?/);
        assert.match(lines.at(-1)!, /^\d\d:\d\d:\d\d\.\d{3} info a console line$/);
        assert.equal(
          await runs.locator("li.run-bad pre:not(.log)").first().innerText(),
          "backend unreachable",
        );
        assert.equal(await page.evaluate<number>("document.documentElement.scrollWidth"), 1280);
        const box = (await log.boundingBox())!;
        assert.ok(box.x >= 0 && box.x + box.width <= 1280, JSON.stringify(box));
        await withScreenshotDir(async (shots, saved) => {
          const shot = `${shots}/last-runs.png`;
          await page.screenshot({ path: shot, fullPage: true });
          saved(shot);
          await page.setViewportSize({ width: 390, height: 844 });
          assert.equal(await page.evaluate<number>("document.documentElement.scrollWidth"), 390);
          const narrow = `${shots}/last-runs-narrow.png`;
          await page.screenshot({ path: narrow, fullPage: true });
          saved(narrow);
        });
      })),
});
