/** Which files in the metrics dir are modules, and what their content is now. */

import { createHash } from "node:crypto";
import { join } from "node:path";

const MODULE_EXTENSIONS = [".ts", ".js", ".mts", ".mjs"];

export interface ModuleFile {
  /** File name without extension. */
  name: string;
  /** The dir joined with the file name. */
  path: string;
  /** sha256 of the content. */
  hash: string;
}

export interface Scan {
  files: Map<string, ModuleFile>;
  /** File names passed over because another file already has the module's name. */
  shadowed: { file: string; by: string }[];
}

/** Module name of `fileName`, or undefined when the file is not a module. */
export function moduleName(fileName: string): string | undefined {
  if (/^[._#]/.test(fileName) || fileName.endsWith("~")) return undefined;
  const ext = MODULE_EXTENSIONS.find((e) => fileName.endsWith(e));
  if (!ext) return undefined; // also excludes *.swp, *.tmp and other droppings
  const name = fileName.slice(0, -ext.length);
  return name === "" ? undefined : name;
}

/** Lists and hashes the modules directly inside `dir`; throws NotFound if `dir` is gone. */
export async function scanDir(dir: string): Promise<Scan> {
  const entries: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isDirectory) continue;
    if (moduleName(entry.name) !== undefined) entries.push(entry.name);
  }
  entries.sort();
  const files = new Map<string, ModuleFile>();
  const shadowed: Scan["shadowed"] = [];
  for (const fileName of entries) {
    const name = moduleName(fileName)!;
    const path = join(dir, fileName);
    let content: Uint8Array;
    try {
      content = await Deno.readFile(path); // follows symlinks, as a ConfigMap's files are
    } catch (err) {
      // Vanished since readDir, a dangling symlink or a directory behind a link: not a module now.
      if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.IsADirectory) continue;
      throw err;
    }
    const existing = files.get(name);
    if (existing) {
      shadowed.push({ file: path, by: existing.path });
      continue;
    }
    files.set(name, { name, path, hash: createHash("sha256").update(content).digest("hex") });
  }
  return { files, shadowed };
}
