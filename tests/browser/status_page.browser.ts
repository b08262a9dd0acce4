/**
 * End to end in a real browser: the landing page as a person sees it, against the real exporter.
 * Not a `_test.ts` file: tests/status_page_test.ts runs it in its own `deno test -A` (see there).
 */

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { browserMissing, withBrowser } from "./_browser.ts";
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

/** The lines of the module's last error as shown: message, then file:line. */
async function errorLines(page: Page, name: string): Promise<string[]> {
  const text = await moduleRow(page, name).locator("xpath=following-sibling::tr[1]").locator("pre")
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
            "load: SyntaxError: Expression expected",
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

          const shot = Deno.env.get("DX_SCREENSHOT") ??
            await Deno.makeTempFile({ prefix: "dx_status_page_", suffix: ".png" });
          await page.screenshot({ path: shot, fullPage: true });
          console.log(`status page screenshot: ${shot}`);

          // At phone width the rows become cards: nothing may need scrolling sideways.
          await page.setViewportSize({ width: 390, height: 844 });
          assert.equal(await page.evaluate<number>("document.documentElement.scrollWidth"), 390);
          const narrow = shot.replace(/(\.png)?$/, "-narrow.png");
          await page.screenshot({ path: narrow, fullPage: true });
          console.log(`status page screenshot at 390px: ${narrow}`);

          await page.getByRole("link", { name: "/metrics", exact: true }).click();
          await page.waitForURL(`${e.url}/metrics`);
          assert.match(await page.locator("body").innerText(), /^good_value 7$/m);
        }),
    ),
});
