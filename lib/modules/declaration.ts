/**
 * Reads a module's sandbox declaration from its source with a real parser, before any of its
 * code runs. A hand lexer lost its place on a regular expression holding a quote and did not
 * decode `sandbo\u0078`: each time the module ran in-process with every permission. So the
 * rule here is to fail closed: whatever could export `sandbox` is either read as a literal or
 * refused, never passed over.
 */

import { parse, type ParseError, type ParserPlugin } from "@babel/parser";
import { dirname, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { readRegularFile } from "./read_regular_file.ts";
import { SandboxError, type SandboxSpec, sandboxSpec } from "./sandbox.ts";

/** At most this many files are read following a module's re-exports. */
export const MAX_REEXPORT_FILES = 50;

type Program = ReturnType<typeof parse>["program"];
type Statement = Program["body"][number];
type ExportNamed = Extract<Statement, { type: "ExportNamedDeclaration" }>;
type VariableDeclaration = Extract<Statement, { type: "VariableDeclaration" }>;
type Declarator = VariableDeclaration["declarations"][number];
type Pattern = Declarator["id"];
type Expression = NonNullable<Declarator["init"]>;
type Located = { loc?: { start: { line: number; column: number } } | null };

/** Where an exported value is bound: two re-exports of one binding are one export, not an ambiguity. */
interface Binding {
  file: string;
  local: string;
  value: unknown;
}

const HOW = "export const sandbox = { ... }";

/**
 * The module's sandbox declaration, read before any of its code runs; undefined when it
 * declares none. Throws SandboxError when it declares one the exporter cannot read
 * statically, or the file cannot be parsed.
 */
export async function readSandboxDeclaration(file: string, source: string): Promise<SandboxSpec | undefined> {
  const binding = await new ExportReader(file, source).resolve(file, "sandbox");
  return binding && sandboxSpec(binding.value);
}

/** One reading: the files parsed and the exports resolved so far, for this module only. */
class ExportReader {
  readonly #entry: string;
  readonly #programs = new Map<string, Program>();
  readonly #resolved = new Map<string, Binding | undefined>();
  readonly #pending = new Set<string>();

  constructor(entry: string, source: string) {
    this.#entry = entry;
    this.#programs.set(entry, parseModule(entry, entry, source));
  }

  /** The binding `file` exports as `name`, after ES module semantics; undefined when it exports none. */
  async resolve(file: string, name: string): Promise<Binding | undefined> {
    const key = `${file}\0${name}`;
    if (this.#resolved.has(key)) return this.#resolved.get(key);
    // ES ResolveExport: a request already under way is a cycle and resolves to nothing.
    if (this.#pending.has(key)) return undefined;
    this.#pending.add(key);
    try {
      const binding = await this.#resolveIn(file, name);
      this.#resolved.set(key, binding);
      return binding;
    } finally {
      this.#pending.delete(key);
    }
  }

  async #resolveIn(file: string, name: string): Promise<Binding | undefined> {
    const program = await this.#program(file);
    const at = (node: Located) => this.#at(file, node);
    const explicit: (() => Promise<Binding | undefined> | Binding | undefined)[] = [];
    for (const statement of program.body) {
      if (statement.type === "ExportNamedDeclaration") {
        if (statement.declaration) {
          const found = declared(statement.declaration, name, file, at);
          if (found) explicit.push(found);
        }
        for (const specifier of statement.specifiers) {
          if (exportedName(specifier) !== name) continue;
          if (
            statement.exportKind === "type" || ("exportKind" in specifier && specifier.exportKind === "type")
          ) {
            continue;
          }
          explicit.push(() => this.#reexported(file, program, statement, specifier, name));
        }
      } else if (statement.type === "ExportDefaultDeclaration" && name === "default") {
        throw new SandboxError(
          `"sandbox" must be exported as a literal: ${HOW}, not a default export (at ${at(statement)})`,
        );
      } else if (
        statement.type === "TSImportEqualsDeclaration" && statement.isExport && statement.id.name === name
      ) {
        throw new SandboxError(
          `"${name}" must be exported as a literal: ${HOW}, not an import alias (at ${at(statement)})`,
        );
      }
    }
    if (explicit.length > 1) {
      throw new SandboxError(
        `"${name}" is exported more than once in ${this.#named(file)}; export it once: ${HOW}`,
      );
    }
    if (explicit.length === 1) return await explicit[0]();
    // `export *` never carries `default`, and never a name the module exports itself.
    if (name === "default") return undefined;
    const providers: { binding: Binding; from: string }[] = [];
    for (const statement of program.body) {
      if (statement.type !== "ExportAllDeclaration" || statement.exportKind === "type") continue;
      const from = statement.source.value;
      const target = localTarget(file, from);
      if (target === undefined) {
        throw new SandboxError(
          `"${name}" could come from export * from "${from}" (at ${
            at(statement)
          }), which is not a local file ` +
            `and cannot be read before the module runs; re-export the names you need by name, ` +
            `or declare the sandbox in the module itself: ${HOW}`,
        );
      }
      const binding = await this.resolve(target, name);
      if (binding) providers.push({ binding, from });
    }
    const distinct = providers.filter((p, i) =>
      providers.findIndex((q) => q.binding.file === p.binding.file && q.binding.local === p.binding.local) ===
        i
    );
    if (distinct.length > 1) {
      throw new SandboxError(
        `"${name}" comes from more than one export * in ${this.#named(file)} ` +
          `(${distinct.map((p) => `"${p.from}"`).join(" and ")}); export it once: ${HOW}`,
      );
    }
    return distinct[0]?.binding;
  }

  /** `export { local as name }`, or with `from`: the binding it names, or a refusal. */
  async #reexported(
    file: string,
    program: Program,
    statement: ExportNamed,
    specifier: ExportNamed["specifiers"][number],
    name: string,
  ): Promise<Binding | undefined> {
    const at = this.#at(file, specifier);
    if (specifier.type !== "ExportSpecifier") {
      throw new SandboxError(
        `"${name}" must be exported as a literal: ${HOW}, not a namespace re-export (at ${at})`,
      );
    }
    // Babel's types say Identifier, but `export { "a b" as x } from` gives a string literal.
    const named = specifier.local as { type: string; name?: string; value?: string };
    const local = (named.type === "Identifier" ? named.name : named.value) ?? "";
    if (!statement.source) {
      return constLiteral(program, local, name, file, (node) => this.#at(file, node), at);
    }
    const from = statement.source.value;
    const target = localTarget(file, from);
    if (target === undefined) {
      throw new SandboxError(
        `"${name}" is re-exported from "${from}" (at ${at}), which is not a local file and cannot be read ` +
          `before the module runs; declare the sandbox in the module itself: ${HOW}`,
      );
    }
    const binding = await this.resolve(target, local);
    if (!binding) {
      throw new SandboxError(
        `"${name}" is re-exported from "${from}" (at ${at}), which exports no "${local}"`,
      );
    }
    return binding;
  }

  async #program(file: string): Promise<Program> {
    const known = this.#programs.get(file);
    if (known) return known;
    if (/\.c[jt]s$/.test(file)) {
      throw new SandboxError(
        `"sandbox" could come from ${this.#named(file)}, a CommonJS file, whose exports cannot be read ` +
          `before it runs; declare the sandbox in the module itself: ${HOW}`,
      );
    }
    if (!/\.(?:m?[jt]s|[jt]sx)$/.test(file)) {
      throw new SandboxError(
        `"sandbox" could come from ${this.#named(file)}, which is not a .ts, .mts, .js or .mjs file the ` +
          `exporter can read; declare the sandbox in the module itself: ${HOW}`,
      );
    }
    if (this.#programs.size >= MAX_REEXPORT_FILES) {
      throw new SandboxError(
        `"sandbox" could not be looked up: its re-exports lead through more than ${MAX_REEXPORT_FILES} files; ` +
          `declare the sandbox in the module itself: ${HOW}`,
      );
    }
    let source: string;
    try {
      source = new TextDecoder().decode(await readRegularFile(file));
    } catch (err) {
      throw new SandboxError(
        `"sandbox" could come from ${this.#named(file)}, which cannot be read: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const program = parseModule(this.#entry, file, source);
    this.#programs.set(file, program);
    return program;
  }

  #named(file: string): string {
    return named(this.#entry, file);
  }

  #at(file: string, node: Located): string {
    const start = node.loc?.start;
    return place(this.#entry, file, start ? `${start.line}:${start.column + 1}` : "?");
  }
}

/** A file as messages name it: relative to the module's dir, so that it reads like the specifier. */
function named(entry: string, file: string): string {
  return file === entry ? "the module" : `"${relative(dirname(entry), file)}"`;
}

/** `3:5` in the module, `lib/x.ts:3:5` in a file it re-exports from (columns from 1, as editors count). */
function place(entry: string, file: string, lineColumn: string): string {
  return file === entry ? lineColumn : `${relative(dirname(entry), file)}:${lineColumn}`;
}

/**
 * Parses `source` as an ES module; throws SandboxError naming the place and Babel's reason, or
 * when Deno could load the file as CommonJS, whose exports are not declarations.
 */
function parseModule(entry: string, file: string, source: string): Program {
  const what = named(entry, file);
  const plugins: ParserPlugin[] = [["decorators", {}], "sourcePhaseImports"];
  // Deno reads .js and .mjs as JavaScript, where `a < b > (c)` is not a generic call.
  if (!/\.m?jsx?$/.test(file)) plugins.push("typescript");
  if (/\.[jt]sx$/.test(file)) plugins.push("jsx");
  let program: Program;
  try {
    program = parse(source, { sourceType: "module", plugins, attachComment: false }).program;
  } catch (err) {
    const { loc, message } = err as ParseError;
    if (!loc) {
      throw new SandboxError(`cannot parse ${what} for the sandbox declaration: ${message}`, { cause: err });
    }
    // Babel may be stricter than Deno, or lack a plugin: the message says whose reading failed.
    throw new SandboxError(
      `SyntaxError: ${message.replace(/ \(\d+:\d+\)$/, "")} ` +
        `(at ${
          place(entry, file, `${loc.line}:${loc.column + 1}`)
        }, parsing ${what} for the sandbox declaration)`,
      { cause: err, ...file === entry ? { line: loc.line, column: loc.column + 1 } : {} },
    );
  }
  if (program.body.some((statement) => statement.type === "TSExportAssignment")) {
    throw new SandboxError(
      `${what} uses \`export =\`, which makes CommonJS exports that cannot be read before it runs; ` +
        `write ES exports: ${HOW}`,
    );
  }
  // Where a package.json says "type": "commonjs", Deno loads a file without ES import or
  // export syntax as CommonJS, and `exports.sandbox = ...` becomes a named export.
  if (!program.body.some(isModuleSyntax) && mentionsCommonJs(program)) {
    throw new SandboxError(
      `${what} has no ES import or export and uses exports, module or require: Deno may load it as ` +
        `CommonJS, whose exports cannot be read before it runs; write ES exports: ${HOW}`,
    );
  }
  return program;
}

/** A value import or export: what makes Deno load a file as an ES module rather than CommonJS. */
function isModuleSyntax(statement: Statement): boolean {
  switch (statement.type) {
    case "ImportDeclaration":
      return statement.importKind !== "type";
    case "ExportNamedDeclaration":
    case "ExportAllDeclaration":
      return statement.exportKind !== "type";
    case "ExportDefaultDeclaration":
      return true;
    default:
      return false;
  }
}

/** Whether any identifier in the tree is `exports`, `module` or `require` (escapes decoded). */
function mentionsCommonJs(root: object): boolean {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (Array.isArray(node)) stack.push(...node);
    else if (
      typeof node === "object" && node !== null && typeof (node as { type?: unknown }).type === "string"
    ) {
      const { type, name } = node as { type: string; name?: string };
      if (type === "Identifier" && (name === "exports" || name === "module" || name === "require")) {
        return true;
      }
      stack.push(...Object.values(node));
    }
  }
  return false;
}

/**
 * A thunk giving the binding when `declaration` (after `export`) declares `name`, undefined
 * when it does not; throws when it declares it in a form that cannot be read statically.
 */
function declared(
  declaration: NonNullable<ExportNamed["declaration"]>,
  name: string,
  file: string,
  at: (node: Located) => string,
): (() => Binding) | undefined {
  // `declare` and type declarations emit no JavaScript: no value is exported.
  if ("declare" in declaration && declaration.declare) return undefined;
  if (declaration.type === "TSTypeAliasDeclaration" || declaration.type === "TSInterfaceDeclaration") {
    return undefined;
  }
  if (declaration.type === "VariableDeclaration") {
    for (const declarator of declaration.declarations) {
      if (!boundNames(declarator.id).includes(name)) continue;
      if (declarator.id.type !== "Identifier") {
        throw new SandboxError(
          `"${name}" must be exported as a literal: ${HOW}, not by a destructuring (at ${at(declarator)})`,
        );
      }
      if (declaration.kind !== "const") {
        throw new SandboxError(
          `"${name}" must be declared with const: ${HOW}, not ${declaration.kind} (at ${at(declaration)})`,
        );
      }
      const init = declarator.init;
      return () => ({ file, local: name, value: literal(init, at, declarator) });
    }
    return undefined;
  }
  const id = "id" in declaration ? declaration.id : undefined;
  const own = id?.type === "Identifier" ? id.name : undefined;
  if (own !== name) return undefined;
  throw new SandboxError(
    `"${name}" must be exported as a literal: ${HOW}, not ${kindOf(declaration.type)} (at ${
      at(declaration)
    })`,
  );
}

/**
 * The value of `local`, a top-level `const` with a literal initializer, which the module
 * exports as `name`; throws when `local` is anything else (an import, a let, a function).
 */
function constLiteral(
  program: Program,
  local: string,
  name: string,
  file: string,
  at: (node: Located) => string,
  where: string,
): Binding {
  const bindings: { what: string; declarator?: Declarator }[] = [];
  for (const statement of program.body) {
    const node = statement.type === "ExportNamedDeclaration" || statement.type === "ExportDefaultDeclaration"
      ? statement.declaration
      : statement;
    if (!node || ("declare" in node && node.declare)) continue;
    if (node.type === "ImportDeclaration") {
      for (const specifier of node.specifiers) {
        if (specifier.local.name === local) bindings.push({ what: "is an import" });
      }
    } else if (node.type === "VariableDeclaration") {
      for (const declarator of node.declarations) {
        if (!boundNames(declarator.id).includes(local)) continue;
        if (declarator.id.type !== "Identifier") bindings.push({ what: "is bound by a destructuring" });
        else if (node.kind !== "const") bindings.push({ what: `is a ${node.kind}` });
        else bindings.push({ what: "is a const", declarator });
      }
    } else if (node.type !== "TSTypeAliasDeclaration" && node.type !== "TSInterfaceDeclaration") {
      const id = "id" in node ? node.id : undefined;
      if (id?.type === "Identifier" && id.name === local) bindings.push({ what: `is ${kindOf(node.type)}` });
    }
  }
  const [only] = bindings;
  if (bindings.length !== 1 || !only.declarator) {
    const what = bindings.length === 1
      ? only.what
      : bindings.length === 0
      ? "is not declared at the top level"
      : "has more than one top-level declaration";
    throw new SandboxError(
      `"${name}" must be exported as a literal: "${local}" ${what}, not a top-level const with a literal ` +
        `value (at ${where})`,
    );
  }
  const declarator = only.declarator;
  return { file, local, value: literal(declarator.init, at, declarator) };
}

/** The names a declarator's pattern binds: `a` in `a`, `a` and `c` in `{ a, b: [c] }`. */
function boundNames(pattern: Pattern | null | Expression): string[] {
  if (!pattern) return [];
  switch (pattern.type) {
    case "Identifier":
      return [pattern.name];
    case "ObjectPattern":
      return pattern.properties.flatMap((p) =>
        boundNames(p.type === "RestElement" ? p.argument : p.value as Pattern)
      );
    case "ArrayPattern":
      return pattern.elements.flatMap((e) => boundNames(e as Pattern | null));
    case "AssignmentPattern":
      return boundNames(pattern.left as Pattern);
    case "RestElement":
      return boundNames(pattern.argument as Pattern);
    default:
      return [];
  }
}

/**
 * The value of a literal: objects with plain keys, arrays, strings, templates without
 * substitutions, numbers, booleans. Type-only wrappers (`as const`, `satisfies`, `!`, `<T>`)
 * do not change the value and are looked through.
 */
function literal(
  node: Expression | null | undefined,
  at: (node: Located) => string,
  owner: Located,
): unknown {
  const refuse = (what: string, where: Located): never => {
    throw new SandboxError(
      `"sandbox" must be a literal written out in the source, like { net: ["api.internal:443"] }; ` +
        `found ${what} at ${at(where)}`,
    );
  };
  if (!node) return refuse("a declaration without a value", owner);
  switch (node.type) {
    case "TSAsExpression":
    case "TSSatisfiesExpression":
    case "TSTypeAssertion":
    case "TSNonNullExpression":
      return literal(node.expression, at, node);
    case "StringLiteral":
    case "NumericLiteral":
    case "BooleanLiteral":
      return node.value;
    case "TemplateLiteral":
      if (node.expressions.length > 0 || node.quasis[0].value.cooked == null) {
        return refuse("a template with a substitution", node);
      }
      return node.quasis[0].value.cooked;
    case "ArrayExpression":
      return node.elements.map((element) => {
        if (element === null) return refuse("a hole in a list", node);
        if (element.type === "SpreadElement") return refuse("a spread", element);
        return literal(element, at, node);
      });
    case "ObjectExpression":
      // fromEntries keeps a `__proto__` key an own key, which sandboxSpec then refuses.
      return Object.fromEntries(node.properties.map((property) => {
        if (property.type !== "ObjectProperty") {
          return refuse(property.type === "SpreadElement" ? "a spread" : "a method", property);
        }
        if (property.computed) return refuse("a computed key", property.key);
        const key = property.key.type === "Identifier"
          ? property.key.name
          : property.key.type === "StringLiteral"
          ? property.key.value
          : refuse("a key that is not a name or a string", property.key);
        return [key, literal(property.value as Expression, at, property)];
      }));
    default:
      return refuse(`${describe(node.type)}`, node);
  }
}

/** `CallExpression` as `a call expression`, for messages. */
function describe(type: string): string {
  const words = type.replace(/^TS/, "TypeScript ").replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
  return `${/^[aeio]/.test(words) ? "an" : "a"} ${words}`;
}

function kindOf(type: string): string {
  switch (type) {
    case "FunctionDeclaration":
    case "TSDeclareFunction":
      return "a function";
    case "ClassDeclaration":
      return "a class";
    case "TSEnumDeclaration":
      return "an enum";
    case "TSModuleDeclaration":
      return "a namespace";
    case "TSImportEqualsDeclaration":
      return "an import alias";
    default:
      return describe(type);
  }
}

function exportedName(specifier: ExportNamed["specifiers"][number]): string {
  const exported = specifier.exported;
  return exported.type === "Identifier" ? exported.name : exported.value;
}

/**
 * The file a relative, absolute or file: specifier names, resolved as Deno does against the
 * importing file (a query or fragment is not part of the path); undefined for anything else
 * (a bare name, npm:, jsr:, http:, data:), whose content cannot be read before it runs.
 */
function localTarget(file: string, specifier: string): string | undefined {
  if (!/^(?:\.{1,2}\/|\/|file:)/.test(specifier)) return undefined;
  try {
    return fileURLToPath(new URL(specifier, pathToFileURL(file)));
  } catch {
    throw new SandboxError(`"${specifier}" is not a path the exporter can follow to read the sandbox`);
  }
}
