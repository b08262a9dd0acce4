/**
 * What module hosts cost (issue 21), in the same run as the rest of `deno task bench`: RSS and
 * PSS of the server and each host, start to ready with 3 to 100 modules, and the server's
 * longest event-loop stall while a 100k-series module's pages arrive. Each figure with a target
 * is printed against it.
 */

import { fileURLToPath } from "node:url";
import { type Exporter, gaugeModule, parseSamples, startExporter, tempMetricsDir } from "../tests/_server.ts";
import { memoryOf, processTree } from "./_proc.ts";
import { verdict } from "./_verdict.ts";
import { printTable, type Row, runCount, type Tracked, withSeriesExporter } from "./side_by_side.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const READY = "metrics dir loaded; ready";

const progress = (message: string) => console.error(`bench: ${message}`);
const mb = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MB`;
const ms = (x: number): string => `${x.toFixed(x < 10 ? 2 : x < 100 ? 1 : 0)} ms`;
const sleep = (msDelay: number) => new Promise((resolve) => setTimeout(resolve, msDelay));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export interface HostsBenchOptions {
  track: Tracked;
  summary: string[];
  /** One repetition and short windows instead of several. */
  quick: boolean;
}

/**
 * Starts an exporter on `dir` (info logs, stall probe on), runs `fn` with it and the wall-clock
 * time just before its spawn, then kills it and its hosts.
 */
async function withExporter<T>(
  track: Tracked,
  dir: string,
  fn: (e: Exporter, spawnedAt: number) => Promise<T>,
): Promise<T> {
  const spawnedAt = Date.now();
  const e = await startExporter({
    metricsDir: dir,
    args: ["--log.level=info"],
    env: { DYNAMIC_EXPORTER_STALL_PROBE: "1" },
  });
  track.exporters.add(e);
  try {
    return await fn(e, spawnedAt);
  } finally {
    await e.stop("SIGKILL");
    track.exporters.delete(e);
  }
}

async function withTempDir<T>(
  track: Tracked,
  files: Record<string, string>,
  fn: (dir: string) => Promise<T>,
) {
  const dir = await tempMetricsDir(files);
  track.dirs.add(dir);
  try {
    return await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    track.dirs.delete(dir);
  }
}

/** Polls /metrics until `ok` holds of its samples. */
async function untilSamples(e: Exporter, ok: (samples: Map<string, number>) => boolean, timeoutMs = 60_000) {
  const deadline = performance.now() + timeoutMs;
  while (true) {
    const response = await fetch(`${e.url}/metrics`, { headers: { "accept-encoding": "identity" } });
    if (ok(parseSamples(await response.text()))) return;
    if (performance.now() > deadline) {
      throw new Error(`/metrics did not show the values within ${timeoutMs} ms`);
    }
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// 8. Memory of the server and its hosts

/** A row for each process of the exporter's tree; the PSS of each by name, and of them all. */
async function treeMemory(
  e: Exporter,
  setup: string,
  rows: Row[],
): Promise<{ pss: Map<string, number>; total: number }> {
  const pss = new Map<string, number>();
  let total = 0;
  for (const { pid, name } of await processTree(e.process.pid)) {
    const memory = await memoryOf(pid);
    if (!memory) continue;
    pss.set(name, memory.pss);
    total += memory.pss;
    rows.push({
      name: `${setup}: ${name === "server" ? "server" : `host ${name}`}`,
      cells: [String(pid), mb(memory.rss), mb(memory.pss)],
    });
  }
  rows.push({ name: `${setup}: all`, cells: ["", "", mb(total)] });
  return { pss, total };
}

async function hostMemory({ track, summary }: HostsBenchOptions): Promise<void> {
  progress("8 RSS and PSS of the server and its hosts");
  const rows: Row[] = [];
  const verdicts: string[] = [];

  const dir = `${ROOT}metrics`;
  const modules = [...Deno.readDirSync(dir)]
    .filter((f) => f.isFile && /^[^._].*\.(ts|js|mts|mjs)$/.test(f.name))
    .map((f) => f.name.replace(/\.[^.]+$/, ""));
  const examples = await withExporter(track, dir, async (e) => {
    await e.waitForLog((r) => r.msg === READY, 60_000);
    // Loaded is not run: wait for each example's first process() (success or not).
    await untilSamples(
      e,
      (samples) =>
        modules.every((m) =>
          (samples.get(`dynamic_exporter_module_process_duration_seconds{module="${m}"}`) ?? 0) > 0
        ),
    );
    await sleep(1000); // let the first runs' garbage go
    return treeMemory(e, "metrics/", rows);
  });
  const pair = examples.total;
  verdicts.push(
    `server + shared host, the ${modules.length} examples: ${mb(pair)} PSS, ${
      verdict(pair < 100 * 2 ** 20, "< 100 MB")
    }`,
  );

  const sandboxed = await withTempDir(
    track,
    { "sandboxed.ts": gaugeModule("bench_sandboxed", 1, "export const sandbox = {};") },
    (dir) =>
      withExporter(track, dir, async (e) => {
        await untilSamples(e, (samples) => samples.get("bench_sandboxed") === 1);
        await sleep(1000);
        return treeMemory(e, "one sandboxed", rows);
      }),
  );
  const own = sandboxed.pss.get("sandboxed");
  verdicts.push(
    own === undefined
      ? "a sandboxed module's host: not found among the server's children (ps)"
      : `a sandboxed module's host: ${mb(own)} PSS, ${verdict(own < 25 * 2 ** 20, "< 25 MB")}`,
  );
  printTable(
    "8. Memory of the server and each module host (/proc/<pid>/smaps_rollup)",
    ["process", "pid", "RSS", "PSS"],
    rows,
    [
      `metrics/: the ${modules.length} example modules (${
        modules.join(", ")
      }), one shared host, after their first runs.`,
      "one sandboxed: a module with `export const sandbox = {}` in a host of its own. PSS splits each shared page",
      "(the deno binary's text, say) between the processes that map it: it adds up, RSS does not.",
      ...verdicts,
    ],
  );
  for (const line of verdicts) summary.push(`hosts memory         ${line}`);
}

// ---------------------------------------------------------------------------------------------
// 9. Start to ready

async function startToReady({ track, summary, quick }: HostsBenchOptions): Promise<void> {
  const rows: Row[] = [];
  const repetitions = quick ? 1 : 3;
  for (const [count, sandboxed] of [[3, false], [10, false], [100, false], [10, true]] as const) {
    const setup = `${count} ${sandboxed ? "sandboxed (a host each)" : "in the shared host"}`;
    progress(`9 start to ready, ${setup}`);
    const files: Record<string, string> = {};
    for (let i = 0; i < count; i++) {
      files[`m${i}.ts`] = gaugeModule(
        `bench_start_${i}`,
        i + 1,
        sandboxed ? "export const sandbox = {};" : "",
      );
    }
    const ready: number[] = [];
    const served: number[] = [];
    await withTempDir(track, files, async (dir) => {
      for (let rep = 0; rep < repetitions; rep++) {
        await withExporter(track, dir, async (e, spawnedAt) => {
          // The line's own time: waitForLog polls, the server stamps it as it logs it.
          const line = await e.waitForLog((r) => r.msg === READY, 120_000);
          ready.push(Date.parse(line.ts as string) - spawnedAt);
          await untilSamples(
            e,
            (s) =>
              Array.from({ length: count }, (_, i) => s.get(`bench_start_${i}`) === i + 1).every(Boolean),
            120_000,
          );
          served.push(Date.now() - spawnedAt);
        });
      }
    });
    const target = count === 10 && !sandboxed ? verdict(median(ready) < 1500, "< 1.5 s") : "measured";
    rows.push({
      name: setup,
      cells: [ms(median(ready)), ms(Math.max(...ready)), ms(median(served)), target],
    });
    summary.push(`start to ready       ${setup}: ${ms(median(ready))}, ${target}`);
  }
  printTable(
    "9. Start to ready (spawn of the server to its `metrics dir loaded; ready` log line)",
    ["modules", "ready, median", "ready, max", "all values served, median", "target"],
    rows,
    [
      `Median of ${repetitions} starts each, one small gauge module per file. All values served: spawn to the first`,
      "/metrics (50 ms polls) that holds every module's value, so every host has started, loaded and run.",
    ],
  );
}

// ---------------------------------------------------------------------------------------------
// 10. Stall while pages arrive

async function stallWhilePagesArrive({ track, summary, quick }: HostsBenchOptions): Promise<void> {
  const rows: Row[] = [];
  const windowS = quick ? 5 : 20;
  for (const sandboxed of [false, true]) {
    const setup = `100k series, ${sandboxed ? "sandboxed" : "shared host"}`;
    progress(`10 stall, ${setup}`);
    await withSeriesExporter(track, 100_000, "1s", async (e) => {
      const before = await runCount(e);
      const from = e.logs.length;
      await sleep(windowS * 1000 + 1100); // the probe reports once a second
      const runs = (await runCount(e)) - before;
      const stalls = e.logs.slice(from).filter((l) => l.msg === "event loop probe").map((l) =>
        l.max_stall_ms as number
      );
      const longest = Math.max(0, ...stalls);
      const target = verdict(longest < 20, "< 20 ms");
      rows.push({ name: setup, cells: [ms(longest), ms(median(stalls)), String(runs), target] });
      summary.push(`stall, pages arrive  ${setup}: longest ${ms(longest)}, ${target}`);
    }, sandboxed);
  }
  printTable(
    "10. The server's longest event-loop stall while a 100k-series module's pages arrive (no scrapes)",
    ["module", "longest stall", "median of 1 s windows", "module runs", "target"],
    rows,
    [
      `The module runs every second in its host and sends its families back in pages; over ${windowS} s the server's`,
      "10 ms probe timer (DYNAMIC_EXPORTER_STALL_PROBE=1) logs the longest stall of each second. On a busy machine a",
      "stall also counts time the server waited for a core. Under wrk, with renders and gzip: table 6c.",
    ],
  );
}

/** Sections 8-10. */
export async function hostsBench(options: HostsBenchOptions): Promise<void> {
  await hostMemory(options);
  await startToReady(options);
  await stallWhilePagesArrive(options);
}
