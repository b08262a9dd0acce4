/** The status page in headless Chromium, driven by playwright-core: tests/browser/status_page.browser.ts. */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CHROMIUM } from "./browser/_browser.ts";

const BROWSER_TEST = fileURLToPath(new URL("browser/status_page.browser.ts", import.meta.url));

let chromium = true;
try {
  await Deno.stat(CHROMIUM);
} catch {
  chromium = false;
  console.warn(`skipping the status page browser test: no browser at ${CHROMIUM} (apt-get install chromium)`);
}

Deno.test({
  name:
    "the status page, in a real browser, shows which module fails, why and where, at a glance with 20 modules, and its last runs",
  ignore: !chromium,
  async fn() {
    // Its own `deno test` with -A: at import, playwright-core stats
    // /proc/sys/fs/binfmt_misc/WSLInterop, and Deno 2.9 lets a stat under /proc through only
    // with --allow-all (no --allow-read can grant it). The exporter it drives still runs with
    // the start task's explicit flags (tests/_server.ts), and this test already has --allow-run.
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "test",
        "--no-prompt",
        "--sanitize-ops",
        "--sanitize-resources",
        "--trace-leaks",
        "-A",
        BROWSER_TEST,
      ],
      // Screenshots go to a temp dir removed afterwards, unless DX_SCREENSHOT_DIR keeps them.
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    for (const line of output.split("\n")) if (line.startsWith("status page screenshot")) console.log(line);
    assert.equal(code, 0, output);
    assert.match(output, /^ok \| 3 passed \| 0 failed/m, output);
  },
});
