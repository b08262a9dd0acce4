/**
 * A module's `export const sandbox = {...}`: the Deno permissions its Worker gets. The exporter
 * reads the declaration from the source text, before any of the module's code runs, so no
 * module code ever runs with more than it declared; the Worker then checks that the module's
 * actual export says the same. The declaration must therefore be a literal: lists of strings,
 * and `memory` as a size.
 */

export const PERMISSION_KINDS = ["net", "read", "env", "run", "write", "sys"] as const;
export type PermissionKind = typeof PERMISSION_KINDS[number];

/** The default memory budget of a sandboxed module's Worker. */
export const DEFAULT_MEMORY_BYTES = 256 * 1024 * 1024;

export interface SandboxSpec {
  /** Each kind's allowed values; a kind not listed is denied. */
  permissions: Record<PermissionKind, string[]>;
  /** The Worker's heap budget in bytes. */
  memoryBytes: number;
}

/** A sandbox declaration that cannot be used; the message says what is wrong. */
export class SandboxError extends Error {
  override name = "SandboxError";
}

/** The sandbox of a module without a declaration, under --modules.sandbox: no permissions. */
export function emptySandbox(): SandboxSpec {
  return {
    permissions: { net: [], read: [], env: [], run: [], write: [], sys: [] },
    memoryBytes: DEFAULT_MEMORY_BYTES,
  };
}

/**
 * The declaration in `source`, or undefined when the module declares none. Throws
 * SandboxError when it is there but not a literal of the right shape.
 */
export function readSandboxDeclaration(source: string): SandboxSpec | undefined {
  const { code, text } = maskSource(source);
  refuseOtherForms(code, text);
  const at = /\bexport\s+(?:const|let|var)\s+sandbox\s*(?::[^=]*)?=\s*/.exec(code);
  if (!at) return undefined;
  const parser = new LiteralParser(text, at.index + at[0].length);
  let value: unknown;
  try {
    value = parser.value();
  } catch (err) {
    throw new SandboxError(
      `"sandbox" must be a literal object of string lists (${(err as Error).message})`,
    );
  }
  return sandboxSpec(value);
}

/**
 * Throws when the module exports `sandbox` in a form other than `export const sandbox = ...`
 * (a list of names, several declarators, a destructuring, a function): its permissions could
 * not be read before its code runs, and it must not run in-process either.
 */
function refuseOtherForms(code: string, text: string): void {
  const refuse = () => {
    throw new SandboxError(`"sandbox" must be exported as a literal: export const sandbox = { ... }`);
  };
  // `export { x as sandbox }`, `export { "sandbox" } from`, `export const { sandbox } = ...`:
  // the names are read from `text`, where a quoted name is still there.
  for (const m of code.matchAll(/\bexport\s*(?:(?:const|let|var)\s*)?([{[])/g)) {
    const open = m.index + m[0].length - 1;
    if (/\bsandbox\b/.test(text.slice(open, closing(code, open)))) refuse();
  }
  if (
    /\bexport\s+(?:default\s+)?(?:async\s+)?(?:function\b\s*\*?|class\b|enum\b|const\s+enum\b|namespace\b|module\b|abstract\s+class\b)\s*sandbox\b/
      .test(code)
  ) refuse();
  for (const m of code.matchAll(/\bexport\s*\*\s*as\s*/g)) {
    if (/^(?:sandbox\b|["']sandbox["'])/.test(text.slice(m.index + m[0].length))) refuse();
  }
  // `export const level = 1, sandbox = {}`: a later declarator, at the top level.
  let depth = 0;
  for (let i = 0; i < code.length; i++) {
    const c = code[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if (c === ")" || c === "]" || c === "}") depth = Math.max(0, depth - 1);
    else if (c === "," && depth === 0 && /^,\s*sandbox\b/.test(code.slice(i, i + 64))) refuse();
  }
}

/** The offset just past the bracket that closes the one at `open` in `code` (or the end). */
function closing(code: string, open: number): number {
  let depth = 0;
  for (let i = open; i < code.length; i++) {
    const c = code[i];
    if (c === "(" || c === "[" || c === "{") depth++;
    else if ((c === ")" || c === "]" || c === "}") && --depth === 0) return i + 1;
  }
  return code.length;
}

/** Words after which a `/` starts a regular expression rather than a division. */
const REGEX_AFTER_WORD = new Set([
  "return",
  "typeof",
  "instanceof",
  "in",
  "of",
  "new",
  "delete",
  "void",
  "throw",
  "case",
  "do",
  "else",
  "yield",
  "await",
]);

/**
 * The source as the reader may look at it, offsets and line breaks kept: `code` with
 * comments, and the insides of strings, templates and regular expressions, blanked (only
 * the program's own tokens are left); `text` with only comments blanked (string literals
 * kept, for the declaration's values). A regular expression holding a comment mark, or a
 * template nested in a template's `${}`, must not make the reader lose its place: a
 * declaration it missed would run the module in-process with every permission.
 */
export function maskSource(source: string): { code: string; text: string } {
  const code = source.split("");
  const text = source.split("");
  const blank = (from: number, to: number, both: boolean) => {
    for (let k = from; k < to && k < source.length; k++) {
      if (source[k] === "\n") continue;
      code[k] = " ";
      if (both) text[k] = " ";
    }
  };
  // Brace depth of each `${` we are inside, innermost last.
  const substitutions: number[] = [];
  let depth = 0;
  let i = 0;
  /** Scans a template's text from `i` (just past a backtick or a `}` closing `${`). */
  const template = () => {
    const start = i;
    while (i < source.length) {
      const c = source[i];
      if (c === "\\") i += 2;
      else if (c === "`") {
        blank(start, i, false);
        i++;
        return;
      } else if (c === "$" && source[i + 1] === "{") {
        blank(start, i + 1, false);
        substitutions.push(depth);
        depth++;
        i += 2;
        return;
      } else i++;
    }
    blank(start, i, false);
  };
  const previous = (): string => {
    let k = i - 1;
    while (k >= 0 && /\s/.test(code[k])) k--;
    if (k < 0) return "";
    if (/[\w$]/.test(code[k])) {
      let w = k;
      while (w > 0 && /[\w$]/.test(code[w - 1])) w--;
      return code.slice(w, k + 1).join("");
    }
    return code[k];
  };
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === "/" && next === "/") {
      const end = source.indexOf("\n", i);
      blank(i, end === -1 ? source.length : end, true);
      i = end === -1 ? source.length : end;
    } else if (c === "/" && next === "*") {
      const end = source.indexOf("*/", i + 2);
      const stop = end === -1 ? source.length : end + 2;
      blank(i, stop, true);
      i = stop;
    } else if (c === '"' || c === "'") {
      let k = i + 1;
      while (k < source.length && source[k] !== c && source[k] !== "\n") k += source[k] === "\\" ? 2 : 1;
      blank(i + 1, k, false);
      i = k + 1;
    } else if (c === "`") {
      i++;
      template();
    } else if (
      c === "}" && substitutions.length > 0 && depth - 1 === substitutions[substitutions.length - 1]
    ) {
      substitutions.pop();
      depth--;
      i++;
      template();
    } else if (c === "/") {
      const before = previous();
      const regex = before === "" || /^[(,=:[!&|?{};+\-*%<>~^]$/.test(before) || before === "}" ||
        REGEX_AFTER_WORD.has(before);
      let k = i + 1;
      let inClass = false;
      if (regex) {
        while (k < source.length && source[k] !== "\n") {
          const r = source[k];
          if (r === "\\") k++;
          else if (r === "[") inClass = true;
          else if (r === "]") inClass = false;
          else if (r === "/" && !inClass) break;
          k++;
        }
      }
      if (regex && source[k] === "/") {
        blank(i + 1, k, false);
        i = k + 1;
      } else i++;
    } else {
      if (c === "{" || c === "(" || c === "[") depth++;
      else if (c === "}" || c === ")" || c === "]") depth--;
      i++;
    }
  }
  return { code: code.join(""), text: text.join("") };
}

/** Checks `value` (the parsed literal, or the module's actual export) and makes it a spec. */
export function sandboxSpec(value: unknown): SandboxSpec {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SandboxError(`"sandbox" must be an object like { net: ["api.internal:443"] }`);
  }
  const spec = emptySandbox();
  for (const [key, entry] of Object.entries(value)) {
    if (key === "memory") {
      spec.memoryBytes = parseSize(entry);
      continue;
    }
    if (!(PERMISSION_KINDS as readonly string[]).includes(key)) {
      throw new SandboxError(
        `"sandbox" has an unknown key "${key}"; use ${PERMISSION_KINDS.join(", ")} or memory`,
      );
    }
    if (!Array.isArray(entry) || entry.some((item) => typeof item !== "string" || item === "")) {
      throw new SandboxError(`"sandbox.${key}" must be a list of non-empty strings`);
    }
    // An entry becomes part of a host's --allow-<kind>=a,b flag: a comma would add an entry.
    const comma = (entry as string[]).find((item) => item.includes(","));
    if (comma !== undefined) {
      throw new SandboxError(
        `"sandbox.${key}" entry ${JSON.stringify(comma)} holds a comma; give one value per entry`,
      );
    }
    spec.permissions[key as PermissionKind] = [...new Set(entry as string[])];
  }
  return spec;
}

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** `memory`: bytes as a number, or a string like "256MB" or "1GiB"; `what` names it in the error. */
export function parseSize(value: unknown, what = `"sandbox.memory"`): number {
  const match = typeof value === "string" ? /^(\d+(?:\.\d+)?)\s*([kmg]i?b)?$/i.exec(value.trim()) : undefined;
  const bytes = typeof value === "number"
    ? value
    : match
    ? Number(match[1]) * SIZE_UNITS[(match[2] ?? "").toLowerCase()]
    : NaN;
  if (!Number.isFinite(bytes) || bytes < 16 * 1024 ** 2) {
    throw new SandboxError(`${what} must be a size of at least 16MiB, like "256MB"`);
  }
  return Math.floor(bytes);
}

/** Reads a JSON-like literal: objects, arrays, strings, numbers, booleans, trailing commas, bare keys. */
class LiteralParser {
  #pos: number;
  constructor(readonly text: string, start: number) {
    this.#pos = start;
  }

  value(): unknown {
    this.#space();
    const c = this.text[this.#pos];
    if (c === "{") return this.#object();
    if (c === "[") return this.#array();
    if (c === '"' || c === "'") return this.#string();
    const word = /^(?:-?\d+(?:\.\d+)?|true|false)/.exec(this.text.slice(this.#pos, this.#pos + 32));
    if (word) {
      this.#pos += word[0].length;
      return word[0] === "true" ? true : word[0] === "false" ? false : Number(word[0]);
    }
    throw new Error(`unexpected ${JSON.stringify(this.text.slice(this.#pos, this.#pos + 12))}`);
  }

  #space(): void {
    while (/\s/.test(this.text[this.#pos] ?? "")) this.#pos++;
  }

  #expect(char: string): void {
    this.#space();
    if (this.text[this.#pos] !== char) {
      throw new Error(`expected "${char}" at ${JSON.stringify(this.text.slice(this.#pos, this.#pos + 12))}`);
    }
    this.#pos++;
  }

  #object(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    this.#expect("{");
    for (;;) {
      this.#space();
      if (this.text[this.#pos] === "}") break;
      let key: string;
      const c = this.text[this.#pos];
      if (c === '"' || c === "'") key = this.#string();
      else {
        const bare = /^[A-Za-z_$][\w$]*/.exec(this.text.slice(this.#pos, this.#pos + 64));
        if (!bare) {
          throw new Error(`expected a key at ${JSON.stringify(this.text.slice(this.#pos, this.#pos + 12))}`);
        }
        key = bare[0];
        this.#pos += key.length;
      }
      this.#expect(":");
      out[key] = this.value();
      this.#space();
      if (this.text[this.#pos] === ",") this.#pos++;
      else break;
    }
    this.#expect("}");
    return out;
  }

  #array(): unknown[] {
    const out: unknown[] = [];
    this.#expect("[");
    for (;;) {
      this.#space();
      if (this.text[this.#pos] === "]") break;
      out.push(this.value());
      this.#space();
      if (this.text[this.#pos] === ",") this.#pos++;
      else break;
    }
    this.#expect("]");
    return out;
  }

  #string(): string {
    const quote = this.text[this.#pos];
    const match = (quote === '"' ? /^"((?:[^"\\\n]|\\.)*)"/ : /^'((?:[^'\\\n]|\\.)*)'/).exec(
      this.text.slice(this.#pos),
    );
    if (!match) throw new Error("unterminated string");
    this.#pos += match[0].length;
    return JSON.parse(`"${match[1].replace(/\\'/g, "'").replace(/(?<!\\)"/g, '\\"')}"`);
  }
}
