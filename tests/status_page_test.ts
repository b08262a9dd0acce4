/**
 * The status pages in headless Chromium, driven by playwright-core: tests/browser/status_page.browser.ts
 * (the landing page) and tests/browser/module_page.browser.ts (a module's own page).
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { CHROMIUM } from "./browser/_browser.ts";

let chromium = true;
try {
  await Deno.stat(CHROMIUM);
} catch {
  chromium = false;
  console.warn(
    `skipping the status page browser tests: no browser at ${CHROMIUM} (apt-get install chromium)`,
  );
}

/** Runs one browser test file in its own `deno test -A`; asserts that its `passed` tests passed. */
async function runBrowserFile(file: string, passed: number): Promise<void> {
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
      fileURLToPath(new URL(`browser/${file}`, import.meta.url)),
    ],
    // Screenshots go to a temp dir removed afterwards, unless DX_SCREENSHOT_DIR keeps them.
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  for (const line of output.split("\n")) if (line.startsWith("status page screenshot")) console.log(line);
  assert.equal(code, 0, output);
  assert.match(output, new RegExp(`^ok \\| ${passed} passed \\| 0 failed`, "m"), output);
}

Deno.test({
  name:
    "the status page, in a real browser, shows which module fails, why and where, at a glance with 20 modules, and its last runs",
  ignore: !chromium,
  fn: () => runBrowserFile("status_page.browser.ts", 3),
});

Deno.test({
  name:
    "a module's own page, in a real browser at 1280x900: a failing module's last runs with their log lines, nothing sideways; a healthy one's values",
  ignore: !chromium,
  fn: () => runBrowserFile("module_page.browser.ts", 1),
});
