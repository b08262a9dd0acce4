import assert from "node:assert/strict";
import { flush, stateOf } from "../../tests/_async.ts";
import { FakeClock } from "../../tests/_fake_clock.ts";
import type { LoadedModule } from "../modules/module_host.ts";
import type { Run, RunOutcome, RunResult } from "./runner.ts";
import { MAX_ABANDONED, RETRY_CAP_MS, retryDelayMs, type Schedule, Scheduler } from "./scheduler.ts";

const EVERY_SECOND: Schedule = { intervalMs: 1000, timeoutMs: 500 };
const AT_SCRAPE: Schedule = { intervalMs: 0, timeoutMs: 500 };

function moduleOf(name: string, version = 1): LoadedModule {
  return {
    name,
    file: `metrics/${name}.ts`,
    url: `file:///metrics/${name}.ts`,
    version,
    invoke: () => {
      throw new Error("the scheduler must not call invoke() itself");
    },
    metricNames: () => [],
    isDynamic: () => false,
    families: () => Promise.resolve([]),
  };
}

/** One started run, finished by hand. */
interface FakeRun {
  /** `name@version`. */
  module: string;
  timeoutMs: number;
  /** Clock time at start. */
  at: number;
  /** Delivers the result; the call itself stays unsettled (an abandoned call when "timeout"). */
  deliver(outcome?: RunOutcome): void;
  /** Settles the call itself. */
  settle(): void;
  /** Delivers a success and settles the call. */
  complete(): void;
}

function label(module: LoadedModule): string {
  return `${module.name}@${module.version}`;
}

function setup(startAt = 0) {
  const clock = new FakeClock(startAt);
  const runs: FakeRun[] = [];
  const results: string[] = [];
  const overruns: string[] = [];
  const scheduled: string[] = [];
  const scheduler = new Scheduler({
    clock,
    start(module, timeoutMs): Run {
      const result = Promise.withResolvers<RunResult>();
      const settled = Promise.withResolvers<void>();
      const at = clock.now();
      let done = false;
      const deliver = (outcome: RunOutcome = "success") =>
        result.resolve({
          outcome,
          durationSeconds: 0.1,
          startedAt: at,
          ...(outcome === "timeout" && !done ? { abandoned: true } : {}),
        });
      runs.push({
        module: label(module),
        timeoutMs,
        at,
        deliver,
        settle: () => {
          done = true;
          settled.resolve();
        },
        complete: () => {
          done = true;
          deliver();
          settled.resolve();
        },
      });
      return { result: result.promise, settled: settled.promise };
    },
    onResult: (module, result) => results.push(`${label(module)} ${result.outcome}`),
    onOverrun: (module, reason) =>
      overruns.push(reason === "running" ? label(module) : `${label(module)} stuck`),
    onScheduled: (module, delayMs, retry) =>
      scheduled.push(`${label(module)} in ${delayMs}${retry ? " retry" : ""}`),
  });
  /** The runs started so far, as `name@version at time`. */
  const started = () => runs.map((run) => `${run.module} at ${run.at}`);
  return { clock, scheduler, runs, results, overruns, scheduled, started };
}

Deno.test("Scheduler runs an interval module at add() and then every interval", async () => {
  const { clock, scheduler, runs, results, started } = setup(100);
  scheduler.add(moduleOf("disk"), EVERY_SECOND);
  assert.deepEqual(started(), ["disk@1 at 100"]);

  for (let i = 0; i < 3; i++) {
    runs.at(-1)!.complete();
    await flush();
    clock.advance(999);
    assert.equal(runs.length, i + 1);
    clock.advance(1);
  }

  assert.deepEqual(started(), ["disk@1 at 100", "disk@1 at 1100", "disk@1 at 2100", "disk@1 at 3100"]);
  assert.deepEqual(runs.map((run) => run.timeoutMs), [500, 500, 500, 500]);
  assert.deepEqual(results, ["disk@1 success", "disk@1 success", "disk@1 success"]);
  await scheduler.close();
});

Deno.test("Scheduler keeps ticks on the grid of the first run when a tick fires late", async () => {
  const { clock, scheduler, runs, overruns, started } = setup();
  scheduler.add(moduleOf("disk"), EVERY_SECOND);
  runs[0].complete();
  await flush();
  clock.advance(1000);
  runs[1].complete();
  await flush();

  clock.stall(2250); // the 2000 tick fires at 3250, after the 3000 one was due
  clock.advance(0);
  runs[2].complete();
  await flush();
  clock.advance(749);
  assert.equal(runs.length, 3);
  clock.advance(1);

  assert.deepEqual(started(), ["disk@1 at 0", "disk@1 at 1000", "disk@1 at 3250", "disk@1 at 4000"]);
  assert.deepEqual(overruns, []);
  await scheduler.close();
});

Deno.test("Scheduler skips a tick while the previous run is pending and reports an overrun", async () => {
  const { clock, scheduler, runs, overruns, started } = setup();
  scheduler.add(moduleOf("disk"), EVERY_SECOND);

  clock.advance(2000);
  assert.deepEqual(started(), ["disk@1 at 0"]);
  assert.deepEqual(overruns, ["disk@1", "disk@1"]);

  runs[0].complete();
  await flush();
  clock.advance(1000);
  assert.deepEqual(started(), ["disk@1 at 0", "disk@1 at 3000"]);
  assert.deepEqual(overruns, ["disk@1", "disk@1"]);
  await scheduler.close();
});

Deno.test("Scheduler starts the next run after a timeout although the abandoned call has not settled", async () => {
  const { clock, scheduler, runs, results, overruns, started } = setup();
  scheduler.add(moduleOf("disk"), EVERY_SECOND);
  runs[0].deliver("timeout");
  await flush();
  assert.deepEqual(results, ["disk@1 timeout"]);

  clock.advance(1000);
  assert.deepEqual(started(), ["disk@1 at 0", "disk@1 at 1000"]);
  assert.deepEqual(overruns, []);
  await scheduler.close();
});

Deno.test("Scheduler reports a module stuck once MAX_ABANDONED calls are pending, until one settles", async () => {
  const { clock, scheduler, runs, overruns, started } = setup();
  scheduler.add(moduleOf("disk"), { intervalMs: 60_000, timeoutMs: 500 });
  for (let i = 0; i < MAX_ABANDONED; i++) {
    runs[i].deliver("timeout");
    await flush();
    clock.advance(retryDelayMs(i + 1, 60_000));
  }
  assert.equal(runs.length, MAX_ABANDONED);
  assert.deepEqual(overruns, ["disk@1 stuck"]);

  runs[0].settle();
  await flush();
  clock.advance(60_000);
  assert.equal(runs.length, MAX_ABANDONED + 1);
  assert.deepEqual(started().at(-1), "disk@1 at 60000");
  await scheduler.close();
});

Deno.test("Scheduler retries a failed run after 1 s, doubling, capped by the interval", async () => {
  const { clock, scheduler, runs, scheduled, started } = setup();
  scheduler.add(moduleOf("hourly"), { intervalMs: 3600_000, timeoutMs: 500 });
  for (let i = 0; i < 5; i++) {
    runs.at(-1)!.deliver("error");
    runs.at(-1)!.settle();
    await flush();
    clock.advance(16_000);
  }
  assert.deepEqual(started(), [
    "hourly@1 at 0",
    "hourly@1 at 1000",
    "hourly@1 at 18000",
    "hourly@1 at 36000",
    "hourly@1 at 56000",
    "hourly@1 at 80000",
  ]);
  assert.deepEqual(scheduled.slice(0, 3), [
    "hourly@1 in 3600000",
    "hourly@1 in 1000 retry",
    "hourly@1 in 3599000",
  ]);
  await scheduler.close();
});

Deno.test("Scheduler caps the retry delay at the module's interval and at 5 minutes", () => {
  assert.deepEqual([1, 2, 3, 4].map((n) => retryDelayMs(n, 3600_000)), [1000, 2000, 4000, 8000]);
  assert.equal(retryDelayMs(9, 3600_000), 256_000);
  assert.equal(retryDelayMs(10, 3600_000), RETRY_CAP_MS);
  assert.equal(retryDelayMs(100, 3600_000), RETRY_CAP_MS);
  assert.equal(retryDelayMs(3, 2500), 2500);
});

Deno.test("Scheduler puts a module back on its own grid after a successful retry", async () => {
  const { clock, scheduler, runs, started } = setup();
  scheduler.add(moduleOf("disk"), { intervalMs: 10_000, timeoutMs: 500 });
  runs[0].deliver("error");
  runs[0].settle();
  await flush();
  clock.advance(1000);
  runs[1].complete();
  await flush();
  clock.advance(9000);
  runs[2].complete();
  await flush();
  clock.advance(10_000);
  assert.deepEqual(started(), ["disk@1 at 0", "disk@1 at 1000", "disk@1 at 10000", "disk@1 at 20000"]);
  await scheduler.close();
});

Deno.test("Scheduler stops ticking a removed module", async () => {
  const { clock, scheduler, runs, started } = setup();
  scheduler.add(moduleOf("disk"), EVERY_SECOND);
  runs[0].complete();
  await flush();

  scheduler.remove("disk");
  clock.advance(10_000);

  assert.deepEqual(started(), ["disk@1 at 0"]);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("Scheduler drops the result of a run that finishes after its module was removed", async () => {
  const { scheduler, runs, results } = setup();
  scheduler.add(moduleOf("disk"), EVERY_SECOND);
  scheduler.remove("disk");

  runs[0].complete();
  await flush();

  assert.deepEqual(results, []);
});

Deno.test("Scheduler replaces a module added again under the same name", async () => {
  const { clock, scheduler, runs, results, overruns, started } = setup();
  scheduler.add(moduleOf("disk", 1), EVERY_SECOND);
  clock.advance(500);
  scheduler.add(moduleOf("disk", 2), EVERY_SECOND);
  assert.deepEqual(started(), ["disk@1 at 0", "disk@2 at 500"]);

  runs[0].complete();
  runs[1].complete();
  await flush();
  clock.advance(1000);

  assert.deepEqual(results, ["disk@2 success"]);
  assert.deepEqual(started(), ["disk@1 at 0", "disk@2 at 500", "disk@2 at 1500"]);
  assert.deepEqual(overruns, []);
  await scheduler.close();
});

Deno.test("Scheduler never ticks a scrape-time module", () => {
  const { clock, scheduler, started } = setup();
  scheduler.add(moduleOf("queue"), AT_SCRAPE);
  clock.advance(60_000);

  assert.deepEqual(started(), []);
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("Scheduler runs scrape-time modules on collectScrapeTime() and waits for their result", async () => {
  const { scheduler, runs, results, started } = setup();
  scheduler.add(moduleOf("disk"), EVERY_SECOND);
  scheduler.add(moduleOf("queue"), AT_SCRAPE);

  const scrape = scheduler.collectScrapeTime();
  assert.deepEqual(started(), ["disk@1 at 0", "queue@1 at 0"]);
  assert.deepEqual(runs.map((run) => run.timeoutMs), [500, 500]);
  assert.equal(await stateOf(scrape), "pending");

  runs[1].complete();
  assert.equal(await stateOf(scrape), "fulfilled");
  assert.deepEqual(results, ["queue@1 success"]);
  await scheduler.close();
});

Deno.test("Scheduler shares one run between concurrent scrapes of a scrape-time module", async () => {
  const { scheduler, runs, overruns, started } = setup();
  scheduler.add(moduleOf("queue"), AT_SCRAPE);

  const first = scheduler.collectScrapeTime();
  const second = scheduler.collectScrapeTime();
  assert.deepEqual(started(), ["queue@1 at 0"]);
  assert.equal(await stateOf(second), "pending");

  runs[0].complete();
  assert.deepEqual(await Promise.all([stateOf(first), stateOf(second)]), ["fulfilled", "fulfilled"]);
  assert.deepEqual(started(), ["queue@1 at 0"]);
  assert.deepEqual(overruns, []);
});

Deno.test("Scheduler runs a scrape-time module again on the next scrape", async () => {
  const { clock, scheduler, runs, started } = setup();
  scheduler.add(moduleOf("queue"), AT_SCRAPE);

  const first = scheduler.collectScrapeTime();
  runs[0].complete();
  await first;
  clock.advance(15_000);
  const second = scheduler.collectScrapeTime();
  runs[1].complete();
  await second;

  assert.deepEqual(started(), ["queue@1 at 0", "queue@1 at 15000"]);
});

Deno.test("Scheduler stops waiting for a slow scrape-time run after capMs", async () => {
  const { clock, scheduler, runs, results } = setup();
  scheduler.add(moduleOf("queue"), AT_SCRAPE);

  const scrape = scheduler.collectScrapeTime(300);
  clock.advance(299);
  assert.equal(await stateOf(scrape), "pending");
  clock.advance(1);
  assert.equal(await stateOf(scrape), "fulfilled");
  assert.deepEqual(results, []);

  // The run goes on; its result still counts.
  runs[0].complete();
  await flush();
  assert.deepEqual(results, ["queue@1 success"]);
});

Deno.test("Scheduler clears the capMs timer when the scrape-time run finishes in time", async () => {
  const { clock, scheduler, runs } = setup();
  scheduler.add(moduleOf("queue"), AT_SCRAPE);

  const scrape = scheduler.collectScrapeTime(300);
  runs[0].complete();
  assert.equal(await stateOf(scrape), "fulfilled");
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("Scheduler runs a scrape-time module again after a timeout, until MAX_ABANDONED calls are pending", async () => {
  const { scheduler, runs, overruns } = setup();
  scheduler.add(moduleOf("queue"), AT_SCRAPE);
  for (let i = 0; i < MAX_ABANDONED; i++) {
    const scrape = scheduler.collectScrapeTime();
    runs[i].deliver("timeout");
    await scrape;
  }
  await scheduler.collectScrapeTime();
  assert.equal(runs.length, MAX_ABANDONED);
  assert.deepEqual(overruns, ["queue@1 stuck"]);

  runs[1].settle();
  await flush();
  const next = scheduler.collectScrapeTime();
  assert.equal(runs.length, MAX_ABANDONED + 1);
  runs.at(-1)!.complete();
  await next;
});

Deno.test("Scheduler close() clears every timer and stops all ticks", async () => {
  const { clock, scheduler, runs, started } = setup();
  scheduler.add(moduleOf("disk"), EVERY_SECOND);
  scheduler.add(moduleOf("cpu"), EVERY_SECOND);
  scheduler.add(moduleOf("queue"), AT_SCRAPE);
  runs.forEach((run) => run.complete());
  await flush();
  assert.equal(clock.pendingTimers, 2);

  await scheduler.close();
  assert.equal(clock.pendingTimers, 0);
  clock.advance(10_000);
  assert.deepEqual(started(), ["disk@1 at 0", "cpu@1 at 0"]);
});

Deno.test("Scheduler close() drops results of runs still in flight", async () => {
  const { scheduler, runs, results } = setup();
  scheduler.add(moduleOf("disk"), EVERY_SECOND);

  await scheduler.close();
  runs[0].complete();
  await flush();

  assert.deepEqual(results, []);
});

Deno.test("Scheduler close(graceMs) returns once the calls in flight settle", async () => {
  const { clock, scheduler, runs } = setup();
  scheduler.add(moduleOf("disk"), EVERY_SECOND);
  runs[0].deliver("timeout");

  const closing = scheduler.close(1000);
  assert.equal(await stateOf(closing), "pending");
  runs[0].settle();
  assert.equal(await stateOf(closing), "fulfilled");
  assert.equal(clock.pendingTimers, 0);
});

Deno.test("Scheduler close(graceMs) gives up on a call that never settles after graceMs", async () => {
  const { clock, scheduler, runs } = setup();
  scheduler.add(moduleOf("disk"), EVERY_SECOND);
  runs[0].deliver("timeout");

  const closing = scheduler.close(1000);
  clock.advance(999);
  assert.equal(await stateOf(closing), "pending");
  clock.advance(1);
  assert.equal(await stateOf(closing), "fulfilled");
});

Deno.test("Scheduler runNow() runs a module at once, delivers its result, and keeps its ticks on the grid", async () => {
  const { clock, scheduler, runs, results, started } = setup(0);
  scheduler.add(moduleOf("disk"), EVERY_SECOND);
  runs[0].complete();
  await flush();
  clock.advance(300);
  const run = scheduler.runNow("disk");
  if (typeof run === "string") assert.fail(`runNow refused: ${run}`);
  runs[1].complete();
  assert.equal((await run).outcome, "success");
  clock.advance(700);
  assert.deepEqual(started(), ["disk@1 at 0", "disk@1 at 300", "disk@1 at 1000"]);
  assert.deepEqual(results, ["disk@1 success", "disk@1 success"]);
  await scheduler.close();
});

Deno.test("Scheduler runNow() says why no run started: unknown, running, stuck", async () => {
  const { scheduler, runs } = setup(0);
  assert.equal(scheduler.runNow("nope"), "unknown");
  scheduler.add(moduleOf("disk"), AT_SCRAPE);
  const first = scheduler.runNow("disk");
  assert.equal(scheduler.runNow("disk"), "running");
  for (let i = 0; i < MAX_ABANDONED; i++) {
    runs.at(-1)!.deliver("timeout");
    await flush();
    if (i < MAX_ABANDONED - 1) scheduler.runNow("disk");
  }
  await first;
  assert.equal(scheduler.runNow("disk"), "stuck");
  await scheduler.close();
});
