/**
 * `deno task new-module <name> --kind=http|command|file|probe [--metrics.dir=<dir>] [--force]`
 * (issues 19 and 20): starts a module in one command. It writes `<dir>/<name>.ts` from the kind's
 * template in scripts/module_templates/, with its fixture folder `<dir>/_fixtures/<name>/` (a
 * scenario of two runs, their golden files and a checks file), so that `deno task test-module`
 * passes on it before its author changes a line. The templates are themselves a metrics dir,
 * each module named `template_<kind>`; writing one replaces that name with the module's.
 */

import { parseArgs } from "node:util";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { moduleName } from "../lib/modules/scan.ts";

const TEMPLATES = fileURLToPath(new URL("./module_templates/", import.meta.url));
const FIXTURES_DIR = "_fixtures";

interface Kind {
  /** What the template's module does, for the summary line. */
  does: string;
  /** Flags the exporter needs for it beyond its defaults. */
  flags: string[];
  /** A target its probe() accepts, for --record and check-module. */
  target?: string;
  /** What to change first. */
  edit: string;
}

const KINDS: Record<string, Kind> = {
  http: { does: "reads a JSON API over HTTP", flags: [], edit: "its URL, metrics and sandbox.net" },
  command: {
    does: "runs df and reads its output",
    flags: ["--modules.allow-run=df"],
    edit: "its command, metrics and sandbox.run",
  },
  file: { does: "reads a JSON status file", flags: [], edit: "its path, metrics and sandbox.read" },
  probe: {
    does: "answers /probe by fetching an HTTP target",
    flags: [],
    target: "http://127.0.0.1:8080/health",
    edit: "its targets, metrics and sandbox.net",
  },
};

/**
 * The longest name: with it, `deno fmt` still leaves what is written as it is (the code's lines
 * stay within its width of 110), as the checkout's CI wants.
 */
const MAX_NAME_LENGTH = 40;
const RESERVED_PREFIX = "dynamic_exporter";

const USAGE =
  `usage: deno task new-module <name> --kind=http|command|file|probe [--metrics.dir=<dir>] [--force]

Writes <dir>/<name>.ts (default dir: ./metrics) from the kind's template, and its fixtures in
<dir>/_fixtures/<name>/, which \`deno task test-module <dir>/<name>.ts\` replays and passes:
  http     ${KINDS.http.does}
  command  ${KINDS.command.does} (needs --modules.allow-run=df to load)
  file     ${KINDS.file.does}
  probe    ${KINDS.probe.does}
<name> is the module's name and its metrics' prefix: lowercase letters, digits and _, starting
with a letter. --force replaces an existing <name>.ts and its whole _fixtures/<name>/ folder.
`;

class UsageError extends Error {}
class Refusal extends Error {}

interface Options {
  name: string;
  kind: string;
  dir: string;
  force: boolean;
}

function parse(args: string[]): Options | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        kind: { type: "string" },
        "metrics.dir": { type: "string" },
        force: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    const message = (err as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(message)?.[1];
    const missing = /Option '(?:-\w, )?(--[^ ']+)[^']*' argument (?:missing|is ambiguous)/.exec(message)?.[1];
    const noValue = /Option '(--[^ ']+)' does not take an argument/.exec(message)?.[1];
    throw new UsageError(
      unknown
        ? `unknown flag ${unknown}; the flags are --kind, --metrics.dir and --force`
        : missing
        ? `${missing}: needs a value`
        : noValue
        ? `${noValue}: takes no value`
        : message.split("\n")[0],
    );
  }
  const { values, positionals } = parsed;
  if (values.help) return "help";
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "expects the module's name"
        : `expects one name, not ${positionals.join(" ")}`,
    );
  }
  const [name] = positionals;
  if (!/^[a-z][a-z0-9_]*$/.test(name) || moduleName(`${name}.ts`) !== name) {
    throw new UsageError(
      `${JSON.stringify(name)} is not a module name: use lowercase letters, digits and _, ` +
        `starting with a letter (it names the file and prefixes the module's metrics)`,
    );
  }
  if (name.length > MAX_NAME_LENGTH) {
    throw new UsageError(`${JSON.stringify(name)} is longer than ${MAX_NAME_LENGTH} characters`);
  }
  if (name === RESERVED_PREFIX || name.startsWith(`${RESERVED_PREFIX}_`)) {
    throw new UsageError(
      `${JSON.stringify(name)}: the metric prefix ${RESERVED_PREFIX}_ is the exporter's own`,
    );
  }
  const kinds = Object.keys(KINDS);
  if (values.kind === undefined) throw new UsageError(`--kind is required: ${kinds.join(", ")}`);
  if (!Object.hasOwn(KINDS, values.kind)) {
    throw new UsageError(`--kind=${values.kind} is not a kind of module: ${kinds.join(", ")}`);
  }
  const dir = values["metrics.dir"] ?? "metrics";
  if (dir === "") throw new UsageError("--metrics.dir is empty");
  return { name, kind: values.kind, dir, force: values.force ?? false };
}

/** The files under `dir`, as paths relative to it, sorted. */
async function filesUnder(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const path = join(prefix, entry.name);
    if (entry.isDirectory) out.push(...await filesUnder(dir, path));
    else out.push(path);
  }
  return out.sort();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** The files of the module `name` already in `dir` (any extension), or none when `dir` does not exist. */
async function modulesNamed(dir: string, name: string): Promise<string[]> {
  const found: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isDirectory && moduleName(entry.name) === name) found.push(entry.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    if (err instanceof Deno.errors.NotADirectory) {
      throw new Refusal(`--metrics.dir ${dir} is not a directory`);
    }
    throw err;
  }
  return found.sort();
}

/** Writes the module and its fixtures; returns the paths written, the module's first. */
async function write(options: Options): Promise<string[]> {
  const { name, kind, dir, force } = options;
  const template = `template_${kind}`;
  const fill = (text: string) =>
    text.replaceAll(template, name).replaceAll(template.toUpperCase(), name.toUpperCase());
  const file = join(dir, `${name}.ts`);
  const fixtures = join(dir, FIXTURES_DIR, name);

  const others = (await modulesNamed(dir, name)).filter((f) => f !== `${name}.ts`);
  if (others.length > 0) {
    // The scanner takes the first file of a name in sort order: a .ts beside a .js is passed over.
    throw new Refusal(
      `${join(dir, others[0])} is already the module ${name}; remove or rename it, or pick another name`,
    );
  }
  if (!force) {
    const taken = [];
    if (await exists(file)) taken.push(file);
    if (await exists(fixtures)) taken.push(`${fixtures}/`);
    if (taken.length > 0) {
      throw new Refusal(
        `${taken.join(" and ")} already exist${taken.length === 1 ? "s" : ""}; --force replaces them`,
      );
    }
  }

  const sources = (await filesUnder(join(TEMPLATES, FIXTURES_DIR, template)))
    .map((path) => [join(TEMPLATES, FIXTURES_DIR, template, path), join(fixtures, fill(path))]);
  await Deno.mkdir(dir, { recursive: true });
  const text = fill(await Deno.readTextFile(join(TEMPLATES, `${template}.ts`)));
  if (force) {
    // Replaced, not written through: a symlink's target may be a file outside the dir.
    for (const path of [file, fixtures]) {
      try {
        await Deno.remove(path, { recursive: path === fixtures });
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err;
      }
    }
  }
  // createNew: a file made since the check above is refused too, never overwritten.
  await Deno.writeTextFile(file, text, { createNew: true });
  const written = [file];
  for (const [from, to] of sources) {
    await Deno.mkdir(join(to, ".."), { recursive: true });
    await Deno.writeTextFile(to, fill(await Deno.readTextFile(from)), { createNew: true });
    written.push(to);
  }
  return written;
}

/** What to run next, each command with what it does. */
function nextSteps(options: Options, file: string): [string, string][] {
  const kind = KINDS[options.kind];
  const flags = kind.flags.map((f) => ` ${f}`).join("");
  const target = kind.target === undefined ? "" : ` --target=${kind.target}`;
  const dirFlag = options.dir === "metrics" || options.dir === "./metrics"
    ? ""
    : ` --metrics.dir=${options.dir}`;
  const steps: [string, string][] = [
    [`deno task test-module ${file}`, "replays the example fixture: passes as written"],
    [`edit ${file}`, `${kind.edit}, as its comments say`],
    [
      `deno task test-module ${file} --record${target}${flags}`,
      `records a run against the real backend as scenario "recorded"`,
    ],
    [
      `deno task check-module ${file}${target}${flags}`,
      "type-checks it, runs it once against the real backend",
    ],
    [`deno task start${dirFlag}${flags}`, "serves it; a running exporter loads it within a second"],
  ];
  if (kind.target !== undefined) {
    steps.push([
      `curl 'localhost:8000/probe?module=${options.name}&target=${kind.target}'`,
      "probes a target, as Prometheus will",
    ]);
  }
  return steps;
}

async function main(args: string[]): Promise<number> {
  let options;
  try {
    options = parse(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`new-module: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (options === "help") {
    console.log(USAGE);
    return 0;
  }
  let written: string[];
  try {
    written = await write(options);
  } catch (err) {
    // A refusal, or the file system's answer (a permission, a file where the dir should be).
    console.error(`new-module: ${(err as Error).message}`);
    return 1;
  }
  const [file] = written;
  const kind = KINDS[options.kind];
  const width = Math.max(...nextSteps(options, file).map(([command]) => command.length));
  const lines = [
    `new-module: wrote the ${options.kind} module ${options.name} (it ${kind.does}) and its fixtures:`,
    ...written.map((path) => `  ${path}`),
    "next:",
    ...nextSteps(options, file).map(([command, what]) => `  ${command.padEnd(width)}  # ${what}`),
  ];
  if (kind.flags.length > 0) {
    lines.push(
      `note: running a command is beyond what modules may do by default (read, net, env): the exporter ` +
        `loads ${options.name} only when started with ${kind.flags.join(" ")}`,
    );
  }
  console.log(lines.join("\n"));
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
