/** Which files in the metrics dir are modules, and what their content is now. */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { MAX_MODULE_FILE_BYTES, readRegularFile } from "./read_regular_file.ts";

const MODULE_EXTENSIONS = [".ts", ".js", ".mts", ".mjs"];

const PYTHON_REASON = "modules are TypeScript or JavaScript (.ts, .js, .mts, .mjs); the README's section " +
  `"Porting a module from the Python tool" (#porting-a-module-from-the-python-tool) shows how to port one`;

export interface ModuleFile {
  /** File name without extension. */
  name: string;
  /** The dir joined with the file name. */
  path: string;
  /** sha256 of the content; "" when the file could not be read. */
  hash: string;
  /** Why the file could not be read (not a regular file, too big, unreadable): its load error. */
  error?: string;
}

/** A file in the dir that is not a module, and why. */
export interface IgnoredFile {
  /** The file name. */
  name: string;
  /** The dir joined with the file name. */
  path: string;
  reason: string;
}

export interface Scan {
  files: Map<string, ModuleFile>;
  /** File names passed over because another file already has the module's name. */
  shadowed: { file: string; by: string }[];
  /** Files that are not modules, in name order. Subdirectories are not listed: they hold helpers. */
  ignored: IgnoredFile[];
}

export interface ScanOptions {
  /** A module file bigger than this is its load error. Default MAX_MODULE_FILE_BYTES (10 MiB). */
  maxFileBytes?: number;
  /** Reads one module file. Default readRegularFile; tests inject failures. */
  read?: (path: string, maxBytes: number) => Promise<Uint8Array>;
}

/** Why `fileName` is not a module, or undefined when it is one. */
export function ignoreReason(fileName: string): string | undefined {
  if (fileName.startsWith(".")) return `hidden file (the name starts with ".")`;
  if (/^#.*#$/.test(fileName) || /(~|\.swp|\.tmp)$/.test(fileName)) return "editor backup or temporary file";
  if (fileName.endsWith(".py")) return PYTHON_REASON;
  if (fileName.startsWith("_")) return `the name starts with "_" (a helper for modules to import)`;
  const ext = MODULE_EXTENSIONS.find((e) => fileName.endsWith(e));
  if (!ext) return "not a module file: modules end in .ts, .js, .mts or .mjs";
  return fileName.startsWith("#") ? "editor backup or temporary file" : undefined;
}

/** Module name of `fileName`, or undefined when the file is not a module. */
export function moduleName(fileName: string): string | undefined {
  if (ignoreReason(fileName) !== undefined) return undefined;
  return fileName.slice(0, fileName.lastIndexOf("."));
}

async function isDirectoryBehindLink(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false; // dangling: a file that is not a module, listed as such
  }
}

/**
 * Lists and hashes the modules directly inside `dir`; throws NotFound if `dir` is gone. A file
 * that cannot be read is that module's `error`, never the whole scan's.
 */
export async function scanDir(dir: string, options: ScanOptions = {}): Promise<Scan> {
  const maxBytes = options.maxFileBytes ?? MAX_MODULE_FILE_BYTES;
  const read = options.read ?? readRegularFile;
  const entries: string[] = [];
  const ignored: IgnoredFile[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) continue;
    const reason = ignoreReason(entry.name);
    if (reason === undefined) entries.push(entry.name);
    else if (!entry.isSymlink || !await isDirectoryBehindLink(join(dir, entry.name))) {
      ignored.push({ name: entry.name, path: join(dir, entry.name), reason });
    }
  }
  entries.sort();
  ignored.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const files = new Map<string, ModuleFile>();
  const shadowed: Scan["shadowed"] = [];
  for (const fileName of entries) {
    const name = moduleName(fileName)!;
    const path = join(dir, fileName);
    let hash = "";
    let error: string | undefined;
    try {
      // Follows symlinks, as a ConfigMap's files are; reads only a regular file, and bounded.
      hash = createHash("sha256").update(await read(path, maxBytes)).digest("hex");
    } catch (err) {
      // Vanished since readDir, a dangling symlink or a directory behind a link: not a module now.
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.IsADirectory) continue;
      error = err instanceof Error ? err.message : String(err);
    }
    const existing = files.get(name);
    if (existing) {
      shadowed.push({ file: path, by: existing.path });
      continue;
    }
    files.set(name, error === undefined ? { name, path, hash } : { name, path, hash, error });
  }
  return { files, shadowed, ignored };
}
