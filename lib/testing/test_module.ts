/**
 * `dynamic_exporter test <module file | dir>...` (issue 19): runs a module against fixtures, in
 * a module host as the exporter would run it, and compares what the exporter would serve with
 * golden files and the author's checks.
 *
 * Fixtures live beside the module, where the scanner never loads them (it reads no
 * subdirectory): `_fixtures/<module>/<scenario>/runN.json` is what the backend gives in run N
 * (lib/testing/fixture.ts), `runN.prom` what the exporter serves after it (the module's
 * series, kept from its last success, and its `dynamic_exporter_module_up`), and
 * `_fixtures/<module>/checks.ts` holds optional checks in code. A replay runs in a host with no
 * net, run or write permission that reads only the module's own files: a backend call the
 * fixture does not hold fails. `--record` runs the module once against its real backend and
 * writes what it fetched, ran and read; `--update` rewrites the golden files.
 */

import { commandHost } from "../supervisor/command_host.ts";
import { basename, dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { Config } from "../flags.ts";
import { formatFamilies, type MetricFamily, validateFamily } from "../exposition/format.ts";
import { Logger } from "../log.ts";
import type { Checks, FixtureRun } from "../module_api.ts";
import { localImports } from "../modules/local_imports.ts";
import { moduleName } from "../modules/scan.ts";
import { MAX_MODULE_FILE_BYTES, NotAModuleFileError, readRegularFile } from "../modules/read_regular_file.ts";
import { runProcess } from "../schedule/runner.ts";
import { type Ceiling, checkCeiling } from "../supervisor/ceiling.ts";
import type { HostedModule } from "../supervisor/hosted_module.ts";
import type { HostProcess } from "../supervisor/host_process.ts";
import { ProcessHost } from "../supervisor/process_host.ts";
import { MAX_FRAME_BYTES } from "../host_protocol.ts";
import { PROBE_SUCCESS_HELP } from "../prober.ts";
import { MODULE_UP_HELP } from "../exposition/self_metrics.ts";
import { targetAllowed } from "../modules/probe_exports.ts";
import { within } from "../long_timer.ts";
import { FixtureError, parseRunFixture, type RunFixture } from "./fixture.ts";
import { diffExpositions, families as parseFamilies, parseSample } from "./golden.ts";
import { type CaseResult, formatReport, type ReportFormat } from "./report.ts";

/** The folder, beside a module, of its fixtures: the scanner skips names starting with "_". */
export const FIXTURES_DIR = "_fixtures";
/** The scenario --record writes when no --scenario names one. */
export const RECORDED_SCENARIO = "recorded";
/** The largest run fixture: it crosses to the host in one frame. */
const MAX_FIXTURE_BYTES = MAX_FRAME_BYTES - 1024 * 1024;

export interface TestModuleOptions {
  /** The module hosts' settings, as the exporter takes them. */
  hosts: Pick<Config, "moduleCeiling" | "sharedMemoryBytes" | "hostGraceMs" | "hostHeartbeatMs">;
  collectTimeoutMs: number;
  /** --modules.sandbox: every module in a host of its own with what it declares. */
  sandboxAll?: boolean;
  /** Run each module once against its real backend first, and store what it got as a scenario. */
  record?: boolean;
  /** Rewrite the golden files with what was served. */
  update?: boolean;
  /** Only this scenario (and the one --record writes). */
  scenario?: string;
  format?: ReportFormat;
  /** With record: probe this target (and params) instead of running process(). */
  probe?: RunFixture["probe"];
  /** Where the report goes. Default: stdout. */
  out?: (text: string) => void;
  /** Where a usage problem (no module with fixtures) goes. Default: stderr. */
  err?: (text: string) => void;
}

/** The module files among `paths` (files, or dirs whose modules have fixtures). */
async function moduleFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    const info = await Deno.stat(path);
    if (!info.isDirectory) {
      files.push(path);
      continue;
    }
    const names: string[] = [];
    for await (const entry of Deno.readDir(path)) {
      if (!entry.isFile && !entry.isSymlink) continue;
      const name = moduleName(entry.name);
      if (name !== undefined && await exists(join(path, FIXTURES_DIR, name))) names.push(entry.name);
    }
    files.push(...names.sort().map((n) => join(path, n)));
  }
  return files;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Tests every module in `paths`; returns the exit code: 0 when all passed, 1 otherwise. */
export async function testModules(paths: string[], options: TestModuleOptions): Promise<number> {
  const out = options.out ?? ((text) => Deno.stdout.writeSync(new TextEncoder().encode(text)));
  const err = options.err ?? ((text) => Deno.stderr.writeSync(new TextEncoder().encode(text)));
  const cases: CaseResult[] = [];
  let files: string[];
  try {
    files = await moduleFiles(paths);
  } catch (e) {
    err(`test: ${(e as Error).message}\n`);
    return 1;
  }
  if (files.length === 0) {
    err(
      `test: no module with fixtures in ${paths.join(", ")} (a module's are in ${FIXTURES_DIR}/<module>/)\n`,
    );
    return 1;
  }
  for (const file of files) {
    try {
      cases.push(...await testModule(file, options));
    } catch (e) {
      // A fixture folder that is a file, an unreadable scenario: this module's failure, not the others'.
      const name = moduleName(basename(file)) ?? basename(file);
      cases.push({ module: name, name: "fixtures", ok: false, details: [(e as Error).message], seconds: 0 });
    }
  }
  out(formatReport(cases, options.format ?? "text"));
  return cases.every((c) => c.ok) ? 0 : 1;
}

/** The cases of one module: its recording, if asked, then each scenario's runs. */
async function testModule(file: string, options: TestModuleOptions): Promise<CaseResult[]> {
  const name = moduleName(basename(file)) ?? basename(file);
  const dir = join(dirname(file), FIXTURES_DIR, name);
  const start = performance.now();
  const failed = (what: string, details: string[]): CaseResult[] => [
    { module: name, name: what, ok: false, details, seconds: (performance.now() - start) / 1000 },
  ];
  if (moduleName(basename(file)) === undefined) {
    return failed("load", [
      `${file} is not a module file name (*.ts, *.js, *.mts, *.mjs, not starting with . or _)`,
    ]);
  }
  const cases: CaseResult[] = [];
  if (options.record) {
    const recorded = await record(file, name, join(dir, options.scenario ?? RECORDED_SCENARIO), options);
    cases.push(recorded);
    if (!recorded.ok) return cases;
  }
  let scenarios: string[];
  try {
    scenarios = await scenarioNames(dir);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      return failed("fixtures", [
        `no fixtures: ${dir} does not exist; record some with --record, or write ${
          join(dir, "<scenario>", "run1.json")
        }`,
      ]);
    }
    throw e;
  }
  if (options.scenario !== undefined) scenarios = scenarios.filter((s) => s === options.scenario);
  if (scenarios.length === 0) {
    return [
      ...cases,
      ...failed("fixtures", [`no scenario in ${dir}${options.scenario ? ` named ${options.scenario}` : ""}`]),
    ];
  }
  let checks: Checks;
  const checksFile = join(dir, "checks.ts");
  try {
    checks = await importChecks(checksFile, options.collectTimeoutMs);
  } catch (e) {
    return [...cases, ...failed("checks", [`${checksFile}: ${(e as Error).message}`])];
  }
  const used = new Set<string>();
  for (const scenario of scenarios) {
    cases.push(...await replay(file, name, join(dir, scenario), scenario, checks, used, options));
  }
  const unknown = Object.keys(checks).filter((key) => !used.has(key));
  if (unknown.length > 0 && options.scenario === undefined) {
    cases.push(
      ...failed(
        "checks",
        unknown.map((key) => `${checksFile}: "${key}" names no run (keys are "<scenario>/<run>")`),
      ),
    );
  }
  return cases;
}

/** The checks in `file`; none when there is no such file. */
async function importChecks(file: string, timeoutMs: number): Promise<Checks> {
  try {
    // Read first: importing a FIFO would wait for a writer for ever.
    await readText(file, MAX_FIXTURE_BYTES);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return {};
    throw err;
  }
  // A top-level await that never settles would hold the whole command (and CI) for ever.
  const imported = await within(
    import(pathToFileURL(resolve(file)).href),
    timeoutMs,
    () => new Error(`its import did not finish within ${timeoutMs}ms`),
  );
  const exported = imported.checks;
  if (typeof exported !== "object" || exported === null) throw new Error(`it exports no "checks" object`);
  return exported;
}

/** The scenario folders of a module's fixtures, sorted. */
async function scenarioNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) if (entry.isDirectory) names.push(entry.name);
  return names.sort();
}

/** A scenario's runs in order: run1.json, run2.json, ... with no gap. */
async function runFiles(dir: string): Promise<string[]> {
  const numbers: number[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const n = /^run([1-9]\d*)\.json$/.exec(entry.name)?.[1];
    if (n) numbers.push(Number(n));
  }
  numbers.sort((a, b) => a - b);
  const gap = numbers.findIndex((n, i) => n !== i + 1);
  if (numbers.length === 0) throw new FixtureError(`${dir}: no run1.json`);
  if (gap >= 0) {
    throw new FixtureError(`${dir}: run${gap + 1}.json is missing (runs are numbered from 1 with no gap)`);
  }
  return numbers.map((n) => join(dir, `run${n}.json`));
}

async function readFixture(file: string): Promise<RunFixture> {
  return parseRunFixture(await readText(file, MAX_FIXTURE_BYTES), file);
}

/** A fixture's, golden file's or check file's text: a regular file within `maxBytes`, never a FIFO's wait. */
async function readText(file: string, maxBytes: number): Promise<string> {
  try {
    return new TextDecoder().decode(await readRegularFile(file, maxBytes));
  } catch (err) {
    if (err instanceof NotAModuleFileError) throw new FixtureError(`${file}: ${err.message}`);
    throw err;
  }
}

/** A run's lines, as the module logged them, gathered from the host's relay. */
class Lines {
  readonly lines: string[] = [];
  take(): string[] {
    return this.lines.splice(0);
  }
}

/** A ProcessHost for one module's test: hosts started with --fixtures=<mode>, each told the current run first. */
function testHost(
  options: TestModuleOptions,
  mode: "record" | "replay",
  module: string,
  lines: Lines,
  restrict: (permissions: Ceiling) => Ceiling,
  current: () => { label: string; base: string; fixture?: RunFixture },
): ProcessHost {
  return commandHost(options, {
    // The module's lines go to its run's report, not to the terminal.
    log: new Logger({ level: "error", write: () => {} }),
    onModuleLog(logged, level, msg, fields) {
      if (logged !== module) return;
      const extra = Object.entries(fields).map(([k, v]) =>
        ` ${k}=${typeof v === "string" ? v : JSON.stringify(v)}`
      );
      lines.lines.push(`${level}: ${msg}${extra.join("")}`);
    },
    testing: {
      hostArgs: [`--fixtures=${mode}`],
      restrict,
      onHostStarted: async (process) => void await tell(process, current()),
    },
  });
}

/** Starts the next run in `process`; a recording host answers with what it recorded until now. */
async function tell(
  process: HostProcess | undefined,
  run: { label: string; base: string; fixture?: RunFixture },
): Promise<RunFixture | undefined> {
  if (!process?.alive) return undefined;
  const reply = await process.request(
    { type: "fixture", id: process.nextId(), label: run.label, base: run.base, replay: run.fixture },
    "fixture-set",
    { timeoutMs: 5000 },
  );
  if (reply.error) throw new Error(reply.error.message);
  return reply.recorded;
}

interface RunOutcome {
  up: boolean;
  error?: string;
  exposition: string;
  logs: string[];
  problems: string[];
}

/** One run of `module`, then what the exporter would serve: the last success's families (none before one). */
async function runOnce(
  module: HostedModule,
  options: TestModuleOptions,
  lines: Lines,
  state: { succeeded: boolean },
  probe?: RunFixture["probe"],
): Promise<RunOutcome> {
  const timeoutMs = module.timeoutMs ?? options.collectTimeoutMs;
  lines.take();
  if (probe) return await probeOnce(module, probe, timeoutMs, lines);
  if (module.probeOnly) {
    return {
      up: false,
      error: `a probe module: give the run's fixture a "probe": { "target": "..." }`,
      exposition: "",
      logs: [],
      problems: [`${module.name} exports no process(), and the fixture names no probe target`],
    };
  }
  const run = await runProcess(module, { timeoutMs, log: new Logger({ write: () => {} }) }).result;
  const up = run.outcome === "success";
  if (up) state.succeeded = true;
  let families: MetricFamily[] = [];
  const problems: string[] = [];
  if (state.succeeded) {
    try {
      families = await module.families();
    } catch (e) {
      problems.push(`its metrics failed to render: ${(e as Error).message}`);
    }
  }
  const error = run.outcome === "timeout"
    ? `process() did not finish within ${timeoutMs}ms`
    : run.outcome === "error"
    ? (run.error instanceof Error ? run.error.message : String(run.error))
    : undefined;
  return outcomeOf(families, problems, up, error, lines, moduleUp(module.name, up));
}

/**
 * probe(target, ctx) as GET /probe calls it: the target checked first; what the call
 * registered, then `probe_success` (not `probe_duration_seconds`, which no golden file can hold).
 */
async function probeOnce(
  module: HostedModule,
  probe: NonNullable<RunFixture["probe"]>,
  timeoutMs: number,
  lines: Lines,
): Promise<RunOutcome> {
  const settings = module.probeSettings;
  const refused = (error: string) => outcomeOf([], [], false, error, lines);
  if (!settings) return refused(`the fixture names a probe target, but the module exports no probe()`);
  const accepted = targetAllowed(settings.targets, probe.target) &&
    (!settings.validateTarget || await module.validateTarget(probe.target, timeoutMs).catch(() => false));
  if (!accepted) return refused(`target ${JSON.stringify(probe.target)} is refused by the module (403)`);
  const outcome = await module.probe(
    probe.target,
    probe.params ?? {},
    timeoutMs,
    AbortSignal.timeout(timeoutMs),
  )
    .catch((e) => ({ families: [], logs: [], error: e as Error }));
  const up = !outcome.error;
  return outcomeOf(outcome.families, [], up, outcome.error?.message, lines, {
    name: "probe_success",
    help: PROBE_SUCCESS_HELP,
    type: "gauge",
    values: [{ value: up ? 1 : 0 }],
  });
}

function moduleUp(name: string, up: boolean): MetricFamily {
  return {
    name: "dynamic_exporter_module_up",
    help: MODULE_UP_HELP,
    type: "gauge",
    values: [{ labels: { module: name }, value: up ? 1 : 0 }],
  };
}

/** The served exposition: the families sorted, each checked, then the exporter's own family `last`. */
function outcomeOf(
  families: MetricFamily[],
  problems: string[],
  up: boolean,
  error: string | undefined,
  lines: Lines,
  last?: MetricFamily,
): RunOutcome {
  const valid = families.filter((family) => {
    const problem = validateFamily(family);
    if (problem) problems.push(problem);
    return problem === undefined;
  }).sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  return {
    up,
    error,
    exposition: formatFamilies(last ? [...valid, last] : valid, "text"),
    logs: lines.take(),
    problems,
  };
}

const ALL_PERMISSIONS: Ceiling = { read: true, net: true, env: true, run: true, write: true, sys: true };

/** A note when the module's sandbox declares more than `ceiling`: the exporter would refuse to load it. */
function beyondCeiling(module: HostedModule, ceiling: Ceiling): string[] {
  if (!module.spec) return [];
  try {
    checkCeiling(module.spec, ceiling);
    return [];
  } catch (e) {
    return [`${(e as Error).message} (the replay itself holds no net, run or write)`];
  }
}

/**
 * Where a replay of `file` runs: its permissions (none of net, run or write, and reading only the
 * module's own files) and the module's dir, which fixtures name files under as `./<path>`.
 */
async function replaySetting(
  file: string,
): Promise<{ restrict: (permissions: Ceiling) => Ceiling; base: string }> {
  const real = await Deno.realPath(file);
  // A regular file within the module bound: a module path that is a FIFO would wait for a writer for ever.
  const helpers = await localImports(real, await readText(real, MAX_MODULE_FILE_BYTES));
  const read = [...new Set([file, real, ...helpers])];
  return {
    restrict: (permissions) => ({ ...permissions, read, net: [], run: [], write: [] }),
    base: dirname(real),
  };
}

async function record(
  file: string,
  name: string,
  dir: string,
  options: TestModuleOptions,
): Promise<CaseResult> {
  const start = performance.now();
  const result = (ok: boolean, details: string[], notes?: string[]): CaseResult => ({
    module: name,
    name: `record ${basename(dir)}`,
    ok,
    details,
    notes,
    seconds: (performance.now() - start) / 1000,
  });
  const lines = new Lines();
  const label = `run 1 of scenario "${basename(dir)}" (recording)`;
  const base = dirname(await Deno.realPath(file));
  const host = testHost(options, "record", name, lines, (p) => p, () => ({ label, base }));
  try {
    let module: HostedModule;
    try {
      module = await host.load(name, file) as HostedModule;
    } catch (e) {
      return result(false, [`it failed to load: ${(e as Error).message}`]);
    }
    const outcome = await runOnce(module, options, lines, { succeeded: false }, options.probe);
    let recorded: RunFixture | undefined;
    try {
      recorded = await tell(module.loadedIn, { label, base });
    } catch (e) {
      return result(false, [`the recording could not be kept: ${(e as Error).message}`]);
    }
    await host.dispose(module, module.timeoutMs ?? options.collectTimeoutMs).catch(() => {});
    if (!recorded) {
      return result(false, ["its host ended before the recording was handed back", ...outcome.logs]);
    }
    await Deno.mkdir(dir, { recursive: true });
    // Only what the run used: an empty list says nothing to whoever reads the file.
    const used = Object.fromEntries(
      Object.entries(recorded).filter(([, v]) => (Array.isArray(v) ? v : Object.keys(v ?? {})).length > 0),
    );
    const fixture = options.probe ? { probe: options.probe, ...used } : used;
    await Deno.writeTextFile(join(dir, "run1.json"), JSON.stringify(fixture, null, 2) + "\n");
    await Deno.writeTextFile(join(dir, "run1.prom"), outcome.exposition);
    const counts = `${recorded.fetch?.length ?? 0} fetch, ${recorded.commands?.length ?? 0} commands, ` +
      `${Object.keys(recorded.files ?? {}).length} files, ${Object.keys(recorded.env ?? {}).length} settings`;
    const notes = [`recorded ${counts} into ${join(dir, "run1.json")}; golden ${join(dir, "run1.prom")}`];
    if (!outcome.up) {
      return result(false, [
        `the recorded run failed: ${outcome.error}`,
        ...outcome.logs.map((l) => `log ${l}`),
      ], notes);
    }
    return result(outcome.problems.length === 0, outcome.problems, notes);
  } finally {
    host.close();
  }
}

async function replay(
  file: string,
  name: string,
  dir: string,
  scenario: string,
  checks: Checks,
  used: Set<string>,
  options: TestModuleOptions,
): Promise<CaseResult[]> {
  const cases: CaseResult[] = [];
  let runs: string[];
  let fixtures: RunFixture[];
  let restrict: (permissions: Ceiling) => Ceiling;
  let base: string;
  const start = performance.now();
  try {
    runs = await runFiles(dir);
    fixtures = await Promise.all(runs.map(readFixture));
    ({ restrict, base } = await replaySetting(file));
  } catch (e) {
    return [{ module: name, name: scenario, ok: false, details: [(e as Error).message], seconds: 0 }];
  }
  let current = { label: `run 1 of scenario "${scenario}"`, base, fixture: fixtures[0] };
  const lines = new Lines();
  // A replay holds no net, run or write whatever the module declares (restrict): it is tested
  // with the permissions it declares even where the ceiling would refuse them, which is noted.
  const host = testHost(
    { ...options, hosts: { ...options.hosts, moduleCeiling: ALL_PERMISSIONS } },
    "replay",
    name,
    lines,
    restrict,
    () => current,
  );
  try {
    let module: HostedModule;
    try {
      module = await host.load(name, file) as HostedModule;
    } catch (e) {
      return [{
        module: name,
        name: `${scenario} run 1`,
        ok: false,
        details: [`it failed to load: ${(e as Error).message}`, ...lines.take().map((l) => `log ${l}`)],
        seconds: (performance.now() - start) / 1000,
      }];
    }
    const state = { succeeded: false };
    for (const [i, fixture] of fixtures.entries()) {
      const runStart = performance.now();
      current = { label: `run ${i + 1} of scenario "${scenario}"`, base, fixture };
      // A host that died meanwhile is told at its restart (onHostStarted).
      if (i > 0) await tell(module.loadedIn, current).catch(() => {});
      const outcome = await runOnce(module, options, lines, state, fixture.probe);
      const details = [...outcome.problems];
      const notes: string[] = [];
      if (i === 0) notes.push(...beyondCeiling(module, options.hosts.moduleCeiling));
      const golden = runs[i].replace(/\.json$/, ".prom");
      if (options.update) {
        await Deno.writeTextFile(golden, outcome.exposition);
        notes.push(`updated ${golden}`);
      } else {
        let expected: string | undefined;
        try {
          expected = await readText(golden, MAX_FIXTURE_BYTES);
        } catch (e) {
          if (!(e instanceof Deno.errors.NotFound)) throw e;
        }
        if (expected === undefined) notes.push(`no golden file ${basename(golden)} (write it with --update)`);
        else {
          const diff = diffExpositions(expected, outcome.exposition);
          if (diff.length > 0) {
            details.push(
              `served differs from ${golden} (- golden, + served):`,
              ...diff.map((l) => `  ${l}`),
            );
          }
        }
      }
      const promtool = await promtoolCheck(outcome.exposition);
      if (promtool === undefined) {
        notes.push("promtool not found: the exposition was not checked by promtool");
      } else if (promtool !== "") details.push(`promtool check metrics: ${promtool}`);
      const key = `${scenario}/${i + 1}`;
      const check = checks[key];
      if (check) {
        used.add(key);
        // A check gets as long as a run: one that never settles must fail, not hold the command.
        const timeoutMs = module.timeoutMs ?? options.collectTimeoutMs;
        try {
          await within(
            Promise.resolve().then(() => check(fixtureRun(scenario, i + 1, outcome))),
            timeoutMs,
            () => new Error(`it did not finish within ${timeoutMs}ms`),
          );
        } catch (e) {
          details.push(`check "${key}" failed: ${(e as Error)?.message ?? String(e)}`);
        }
      }
      // With nothing to compare it with, a run must succeed: a golden file or a check says when a failure is meant.
      if (!outcome.up && !check && notes.some((n) => n.startsWith("no golden file"))) {
        details.push("the run failed, and neither a golden file nor a check expects that");
      }
      if (details.length > 0) {
        if (outcome.error) details.push(`the run ${outcome.up ? "" : "failed: "}${outcome.error}`);
        details.push(...outcome.logs.map((l) => `log ${l}`));
      }
      cases.push({
        module: name,
        name: `${scenario} run ${i + 1}`,
        ok: details.length === 0,
        details,
        notes,
        seconds: (performance.now() - runStart) / 1000,
      });
    }
    await host.dispose(module, module.timeoutMs ?? options.collectTimeoutMs).catch(() => {});
    return cases;
  } finally {
    host.close();
  }
}

function fixtureRun(scenario: string, run: number, outcome: RunOutcome): FixtureRun {
  const samples = [...parseFamilies(outcome.exposition).values()].flatMap((f) => f.samples)
    .map(parseSample).filter((s) => s !== undefined);
  return {
    scenario,
    run,
    up: outcome.up,
    error: outcome.error,
    exposition: outcome.exposition,
    logs: outcome.logs,
    sample(name, labels = {}) {
      const matching = samples.filter((s) =>
        s.name === name &&
        Object.entries(labels).every(([k, v]) => s.labels.some(([lk, lv]) => lk === k && lv === v))
      );
      if (matching.length > 1) {
        throw new Error(
          `${matching.length} series of ${name} match ${JSON.stringify(labels)}: give more labels`,
        );
      }
      return matching.length === 0 ? undefined : Number(matching[0].value);
    },
  };
}

/** promtool's complaint about `exposition` ("" when none); undefined when there is no promtool to ask. */
async function promtoolCheck(exposition: string): Promise<string | undefined> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(Deno.env.get("PROMTOOL") ?? "promtool", {
      args: ["check", "metrics"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotCapable) return undefined;
    throw err;
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(exposition));
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  if (success) return "";
  return new TextDecoder().decode(stdout).trim() + new TextDecoder().decode(stderr).trim();
}
