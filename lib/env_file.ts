/**
 * `--env-file`: the modules' settings from a `.env` file, as the Python tool's users keep them
 * (issue 11). The format mirrors `deno run --env-file` (Deno 2.9.6, measured): `KEY=VALUE` lines,
 * `#` comments, an optional `export `, single quotes literal, double quotes with `\n` escapes
 * and several lines, `$NAME` and `${NAME}` expanded outside single quotes, the first
 * occurrence of a name wins and a variable already in the environment wins over the file.
 * Unlike Deno, which ignores a whole file silently when one line is malformed, a malformed
 * line is an error naming its number: the exporter never starts half-configured.
 */

import { NotAModuleFileError, readRegularFile } from "./modules/read_regular_file.ts";

/**
 * The size bound of an env file: far above any real one, and a 64 MB file held the exporter
 * from listening for 25 s at 800 MB (issue 18, defect 5).
 */
export const MAX_ENV_FILE_BYTES: number = 1024 * 1024;

/** The file named by --env-file cannot be used; the message names the file and the line. */
export class EnvFileError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "EnvFileError";
  }
}

/** What loading did: the names set from the file, and those the environment already had. */
export interface EnvFileResult {
  set: string[];
  kept: string[];
}

/** The environment the file is loaded into: `Deno.env` by default. */
export interface Environment {
  get(key: string): string | undefined;
  set(key: string, value: string): void;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;
const ESCAPES: Readonly<Record<string, string>> = { n: "\n", r: "\r", t: "\t" };

/**
 * The variables in `text`, in file order, first occurrence of each name. `lookup` resolves
 * `$NAME` for a name the file has not set (yet). Throws EnvFileError naming the line.
 */
export function parseEnvFile(
  text: string,
  lookup: (key: string) => string | undefined = () => undefined,
): Map<string, string> {
  const values = new Map<string, string>();
  const expand = (value: string) =>
    value.replace(
      /\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
      (whole, braced?: string, bare?: string) => {
        if (whole === "\\$") return "$";
        const key = braced ?? bare!;
        return lookup(key) ?? values.get(key) ?? "";
      },
    );
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  // No environment variable can hold a NUL: Deno.env.set() throws a TypeError that quotes the
  // value (issue 18, defect 5). Named by its line, never shown.
  const nul = lines.findIndex((line) => line.includes("\0"));
  if (nul >= 0) {
    throw new EnvFileError(`line ${nul + 1} holds a NUL byte, which no environment variable can hold`);
  }
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    const key = (eq < 0 ? "" : line.slice(0, eq)).trim().replace(/^export\s+/, "");
    if (eq < 0 || !NAME.test(key)) {
      throw new EnvFileError(
        `line ${lineNo} is not KEY=VALUE (a name of letters, digits and _, then =, then the value)`,
      );
    }
    let rest = line.slice(eq + 1).trimStart();
    let value: string;
    const quote = rest[0];
    if (quote === "'" || quote === '"') {
      // A quoted value may go on over the next lines until its closing quote.
      let body = rest.slice(1);
      let close = closingQuote(body, quote);
      while (close < 0 && i + 1 < lines.length) {
        body += "\n" + lines[++i];
        close = closingQuote(body, quote);
      }
      if (close < 0) throw new EnvFileError(`line ${lineNo}: the value's ${quote} quote is never closed`);
      const after = body.slice(close + 1).trim();
      if (after !== "" && !after.startsWith("#")) {
        throw new EnvFileError(`line ${lineNo}: unexpected text after the quoted value`);
      }
      body = body.slice(0, close);
      value = quote === "'" ? body : expand(body.replace(/\\([nrt"\\])/g, (_, c: string) => ESCAPES[c] ?? c));
    } else {
      const hash = rest.indexOf("#");
      if (hash >= 0) rest = rest.slice(0, hash);
      value = expand(rest.trim());
    }
    if (!values.has(key)) values.set(key, value);
  }
  return values;
}

/** The index of the unescaped closing `quote` in `body`, or -1. */
function closingQuote(body: string, quote: string): number {
  for (let i = 0; i < body.length; i++) {
    if (body[i] === "\\" && quote === '"') i++;
    else if (body[i] === quote) return i;
  }
  return -1;
}

/**
 * Reads `path` and sets its variables in `env` (names `env` already has are kept as they are).
 * Throws EnvFileError when the file is missing, not a regular file, over MAX_ENV_FILE_BYTES,
 * unreadable or malformed; its message never holds a value.
 */
export async function loadEnvFile(path: string, env: Environment = Deno.env): Promise<EnvFileResult> {
  let text: string;
  try {
    // Stat first and read at most one byte past the bound: a FIFO or a device would block the
    // read for ever, /dev/zero would fill the memory.
    text = new TextDecoder().decode(await readRegularFile(path, MAX_ENV_FILE_BYTES));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new EnvFileError(`"${path}" does not exist`, { cause: err });
    }
    if (err instanceof Deno.errors.IsADirectory || err instanceof NotAModuleFileError) {
      throw new EnvFileError(`"${path}" ${(err as Error).message}`, { cause: err });
    }
    throw new EnvFileError(`cannot read "${path}": ${(err as Error).message}`, { cause: err });
  }
  let values: Map<string, string>;
  try {
    values = parseEnvFile(text, (key) => env.get(key));
  } catch (err) {
    throw new EnvFileError(`"${path}" ${(err as Error).message}`, { cause: err });
  }
  const result: EnvFileResult = { set: [], kept: [] };
  for (const [key, value] of values) {
    if (env.get(key) !== undefined) {
      result.kept.push(key);
      continue;
    }
    try {
      env.set(key, value);
    } catch (err) {
      // The environment's own message quotes the value: name the variable only.
      throw new EnvFileError(`"${path}": the environment refuses the value of ${key}`, { cause: err });
    }
    result.set.push(key);
  }
  return result;
}

/**
 * Reads `path` again (SIGHUP, POST /-/reload): the names the last load set (`previous.set`) take
 * their new values, or go when the file no longer has them; names the environment had of its
 * own still win. The file is read and checked whole before anything changes: a bad file
 * throws EnvFileError and leaves the environment as it was. `changed`: a value was set or removed.
 */
export async function reloadEnvFile(
  path: string,
  previous: EnvFileResult,
  env: Environment & { delete(key: string): void } = Deno.env,
): Promise<EnvFileResult & { changed: boolean }> {
  const ours = new Set(previous.set);
  const next = new Map<string, string>();
  const result = await loadEnvFile(path, {
    get: (key) => ours.has(key) ? next.get(key) : env.get(key) ?? next.get(key),
    set: (key, value) => void next.set(key, value),
  });
  let changed = false;
  for (const key of ours) {
    if (!next.has(key)) {
      env.delete(key);
      changed = true;
    }
  }
  for (const [key, value] of next) {
    if (env.get(key) === value) continue;
    env.set(key, value);
    changed = true;
  }
  return { ...result, changed };
}
