/**
 * End to end in a real browser: a module's own page (issue 19, "see what a run did") at 1280x900,
 * against the real exporter. Not a `_test.ts` file: tests/status_page_test.ts runs it in its own
 * `deno test -A`.
 */

import assert from "node:assert/strict";
import { browserMissing, withBrowser, withScreenshotDir } from "./_browser.ts";
import { waitFor, waitForSample, withExporter } from "../_server.ts";

const missing = await browserMissing();
if (missing) throw new Error(`cannot run the browser test: ${missing}`);

// A 400-character log message and a long error, neither with a space to wrap at for most of its
// length (a URL, a response body), then a failure: every run.
const LONG_MESSAGE = `backend answered 503 with body ${"<html>unavailable</html>".repeat(16)}`.slice(0, 400);
const LONG_ERROR = `fetch http://orders.internal/api/v1/queues?${
  "page=1&".repeat(30)
}failed: connection refused`;
const FAILING = `export const interval = "500ms";
export function process(ctx) {
  ctx.log.warn(${JSON.stringify(LONG_MESSAGE)});
  console.log("a console line");
  throw new Error(${JSON.stringify(LONG_ERROR)});
}
`;
const HEALTHY = `import { Gauge } from "prom-client";
const depth = new Gauge({ name: "shop_orders", help: "Orders waiting, by queue.", labelNames: ["queue"] });
export function process(ctx) {
  ctx.log.info("counted the queues");
  depth.set({ queue: "express" }, 3);
  depth.set({ queue: "standard" }, 42.5);
}
`;

/** document.scrollingElement's scroll and client widths: equal when nothing needs scrolling sideways. */
const WIDTHS = "[document.scrollingElement.scrollWidth, document.scrollingElement.clientWidth]";

Deno.test({
  name:
    "at 1280x900 a failing module's page shows its last runs with their log lines, nothing sideways; a healthy one's values",
  fn: () =>
    withExporter({ "orders.ts": FAILING, "shop.ts": HEALTHY }, (e) =>
      withBrowser(async (browser) => {
        await waitForSample(e.url, 'shop_orders{queue="standard"}', 42.5);
        const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, colorScheme: "light" });

        // From the status page, the module's name links its page.
        await page.goto(`${e.url}/`);
        await page.getByRole("link", { name: "orders", exact: true }).click();
        await page.waitForURL(`${e.url}/module?name=orders`);
        const summary = page.locator("#runs details.runs > summary");
        await waitFor(async () => {
          await page.reload();
          // Every run fails: 3 or more, up to the 10 failed runs kept (reached first on a loaded machine).
          const [, runs, failed] = /^Last (\d+) runs, (\d+) failed$/.exec(await summary.innerText()) ?? [];
          return Number(runs) >= 3 && failed === runs;
        }, { timeoutMs: 15_000, intervalMs: 250, message: () => "fewer than 3 failed runs shown" });
        assert.equal(await page.title(), "orders · down · dynamic_exporter");

        // Unfolded: the newest run's error and its log lines, the 400-character line whole.
        const run = page.locator("#runs li.run-bad").first();
        assert.equal(await run.locator("pre:not(.log)").innerText(), LONG_ERROR);
        const log = run.locator("pre.log");
        const lines = (await log.innerText()).split("\n");
        assert.equal(lines.length, 2, lines.join("\n"));
        assert.equal(lines[0].replace(/^\d\d:\d\d:\d\d\.\d{3} /, ""), `warn ${LONG_MESSAGE}`);
        assert.match(lines[1], /^\d\d:\d\d:\d\d\.\d{3} info a console line$/);

        // Nothing needs scrolling sideways, and the log line and the error are within the width.
        const [scrollWidth, clientWidth] = await page.evaluate<number[]>(WIDTHS);
        assert.ok(scrollWidth <= clientWidth, `scrollWidth ${scrollWidth} > clientWidth ${clientWidth}`);
        for (const box of [await log.boundingBox(), await run.locator("pre:not(.log)").boundingBox()]) {
          assert.ok(box && box.x >= 0 && box.x + box.width <= 1280, JSON.stringify(box));
        }
        assert.ok(await log.isVisible());
        // The last error sits above the runs, its file and line with it.
        assert.match(
          await page.locator("section.error pre").innerText(),
          /^run: fetch http:\/\/orders\.internal/,
        );
        assert.equal(
          await page.locator("#series p.none").innerText(),
          "None yet: its series are served after its first successful run.",
        );

        await withScreenshotDir(async (shots, saved) => {
          const shot = `${shots}/module-page-failing-1280x900.png`;
          await page.screenshot({ path: shot }); // the viewport: what a person sees without scrolling
          saved(shot);
          assert.ok((await Deno.stat(shot)).size > 10_000, "a real screenshot");
          const full = `${shots}/module-page-failing-full.png`;
          await page.screenshot({ path: full, fullPage: true });
          saved(full);
          // At phone width too.
          await page.setViewportSize({ width: 390, height: 844 });
          const [narrowWidth, narrowClient] = await page.evaluate<number[]>(WIDTHS);
          assert.ok(
            narrowWidth <= narrowClient,
            `at 390: scrollWidth ${narrowWidth} > clientWidth ${narrowClient}`,
          );
          const narrow = `${shots}/module-page-failing-390.png`;
          await page.screenshot({ path: narrow, fullPage: true });
          saved(narrow);
          await page.setViewportSize({ width: 1280, height: 900 });

          // The healthy module's page shows its series with their values.
          await page.goto(`${e.url}/module?name=shop`);
          assert.equal(await page.title(), "shop · up · dynamic_exporter");
          const series = page.locator("#series ol.series li");
          assert.deepEqual(await series.allInnerTexts(), [
            'shop_orders{queue="express"}\n3',
            'shop_orders{queue="standard"}\n42.5',
          ]);
          const value = series.nth(1).locator(".v");
          const box = await value.boundingBox();
          assert.ok(box && box.x + box.width <= 1280 && box.y + box.height <= 900, JSON.stringify(box));
          const [w, cw] = await page.evaluate<number[]>(WIDTHS);
          assert.ok(w <= cw, `scrollWidth ${w} > clientWidth ${cw}`);
          const healthy = `${shots}/module-page-healthy-1280x900.png`;
          await page.screenshot({ path: healthy });
          saved(healthy);
        });
      })),
});
