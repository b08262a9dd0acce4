/** Test helpers: headless Chromium driven by playwright-core, where the machine and permissions allow. */

import type { Browser } from "playwright-core";

/** Debian's chromium package; .ci/run installs it. */
export const CHROMIUM = "/usr/bin/chromium";

// No sandbox: CI containers run as root, where Chromium's sandbox refuses to start. The rest
// keeps a test run off the network: no updates, sync or QUIC probes.
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

/**
 * Why the browser tests cannot run here, or undefined when they can. playwright-core is imported
 * here, not at the top: at import it calls os.homedir() and os.release() (--allow-sys) and
 * fs.existsSync("/proc/sys/fs/binfmt_misc/WSLInterop"), which Deno 2.9 lets through only with
 * --allow-all (a stat under /proc is a "special file"; node:fs rethrows NotCapable instead of
 * answering false), so under `deno task test`'s explicit flags it cannot load.
 */
export async function browserMissing(): Promise<string | undefined> {
  try {
    await Deno.stat(CHROMIUM);
  } catch (err) {
    return `no browser at ${CHROMIUM} (${
      err instanceof Error ? err.name : err
    }); install Debian's chromium package`;
  }
  try {
    await import("playwright-core");
  } catch (err) {
    const reason = err instanceof Error ? err.message.split("\n")[0] : String(err);
    return `playwright-core cannot load with this run's permissions (${reason}); run this file with -A`;
  }
  return undefined;
}

/** Runs `fn` with a headless Chromium, closed afterwards whatever happens. */
export async function withBrowser(fn: (browser: Browser) => Promise<void>): Promise<void> {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  try {
    await fn(browser);
  } finally {
    await browser.close();
  }
}

/**
 * Where screenshots go: DX_SCREENSHOT_DIR to keep them (and look at them), else a temp dir
 * removed after the test, so that no run leaves PNGs in /tmp (issue 11).
 */
export async function withScreenshotDir(
  fn: (dir: string, saved: (path: string) => void) => Promise<void>,
): Promise<void> {
  const kept = Deno.env.get("DX_SCREENSHOT_DIR");
  const dir = kept ?? await Deno.makeTempDir({ prefix: "dx_status_page_" });
  const saved = (path: string) => {
    if (kept) console.log(`status page screenshot: ${path}`);
  };
  try {
    await fn(dir, saved);
  } finally {
    if (!kept) await Deno.remove(dir, { recursive: true });
  }
}
