/**
 * The local files a module imports, transitively: its helpers. A sandboxed module is reloaded
 * when one of them changes (in a fresh host process, which imports them afresh). Read from the source text, as
 * the sandbox declaration is: static `import`/`export ... from` and `import("...")` with a
 * literal relative or file: specifier; a specifier computed at run time is not followed.
 */

import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NotAModuleFileError, readRegularFile } from "./read_regular_file.ts";

/** At most this many helper files are followed per module. */
export const MAX_LOCAL_IMPORTS = 200;

const SPECIFIER =
  /(?:\bimport|\bexport)\s*(?:type\s+)?(?:[\w*{}\s,$]+?\s*from\s*)?["']([^"'\n]+)["']|\bimport\s*\(\s*["']([^"'\n]+)["']\s*\)/g;

/** The specifiers `source` imports that point to local files, resolved against `file`. */
export function localSpecifiers(source: string, file: string): string[] {
  const out: string[] = [];
  for (const match of source.matchAll(SPECIFIER)) {
    const specifier = match[1] ?? match[2];
    if (specifier.startsWith("./") || specifier.startsWith("../")) {
      out.push(resolve(dirname(file), specifier));
    } else if (specifier.startsWith("file:")) {
      try {
        out.push(fileURLToPath(specifier));
      } catch {
        // Not a path this can follow.
      }
    }
  }
  return out;
}

/**
 * Every local file `file` imports, directly or through another, without `file` itself; sorted.
 * Throws, naming the helper, when one is not a regular file within the size bound: Deno's
 * import would read a symlink to /dev/zero until memory runs out, and block on a FIFO for
 * good (issue 8 item 1, for helpers). A missing or unreadable
 * helper is left to the import, which reports it.
 */
export async function localImports(file: string, source: string): Promise<string[]> {
  const seen = new Set<string>([file]);
  const queue = localSpecifiers(source, file);
  const found: string[] = [];
  while (queue.length > 0 && found.length < MAX_LOCAL_IMPORTS) {
    const next = queue.shift()!;
    if (seen.has(next)) continue;
    seen.add(next);
    found.push(next);
    let text: string;
    try {
      text = new TextDecoder().decode(await readRegularFile(next));
    } catch (err) {
      if (err instanceof NotAModuleFileError) throw new Error(`its helper ${next} ${err.message}`);
      continue;
    }
    queue.push(...localSpecifiers(text, next));
  }
  return found.sort();
}

/** Files' identities and versions, as cheap as a stat each: a changed file has another. */
export async function helperSignature(paths: readonly string[]): Promise<string> {
  const parts = await Promise.all(paths.map(async (path) => {
    try {
      const info = await Deno.stat(path);
      return `${path}:${info.ino}:${info.size}:${info.mtime?.getTime()}`;
    } catch {
      return `${path}:gone`;
    }
  }));
  return parts.join("\n");
}
