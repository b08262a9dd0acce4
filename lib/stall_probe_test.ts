import assert from "node:assert/strict";
import { Logger } from "./log.ts";
import { StallProbe } from "./stall_probe.ts";
import { waitFor } from "../tests/_server.ts";

Deno.test("StallProbe logs the longest time the event loop was held in its window", async () => {
  const lines: Record<string, unknown>[] = [];
  const log = new Logger({ format: "json", write: (line) => lines.push(JSON.parse(line)) });
  const probe = new StallProbe(log, { tickMs: 5, reportMs: 200 });
  try {
    // Let the probe tick once, then hold the loop for 150 ms in one synchronous step.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const start = performance.now();
    while (performance.now() - start < 150) { /* busy */ }
    await waitFor(() => lines.some((l) => (l.max_stall_ms as number) >= 140), {
      timeoutMs: 5_000,
      message: () => JSON.stringify(lines),
    });
    assert.equal(lines[0].msg, "event loop probe");
  } finally {
    probe.stop();
  }
});
