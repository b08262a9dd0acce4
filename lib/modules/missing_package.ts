/**
 * The exporter runs with `--frozen --cached-only` (issue 8, item 16: a module importing
 * `npm:lodash@4` used to download it at run time and rewrite deno.lock). Deno's errors for an
 * import that is not installed then speak of the cache or the lockfile; this says what it
 * means for a module and what to do about it.
 */

export interface MissingPackage {
  /** E.g. `cannot import "npm:lodash@4": the exporter does not download packages at run time`. */
  message: string;
  hint: string;
}

const HINT =
  `add it to deno.json's "imports", run \`deno install\` in the exporter's directory and restart ` +
  "(a compiled binary needs a rebuild)";

/** Recognises Deno's error for an import that is not installed; `text` without colours. */
export function describeMissingPackage(text: string): MissingPackage | undefined {
  let what: string | undefined;
  // --frozen: the import would add this line to deno.lock, e.g. `+    "npm:lodash@4": "4.17.21",`.
  const locked = /lockfile is out of date[\s\S]*?\+\s*"((?:npm|jsr):[^"]+)"/.exec(text);
  // --cached-only: never downloaded.
  const npm = /npm package not found in cache: "([^"]+)"/.exec(text);
  const remote = /Specifier not found in cache: "([^"]+)"/.exec(text);
  if (locked) what = `"${locked[1]}"`;
  else if (npm) what = `npm package "${npm[1]}"`;
  else if (remote) what = `"${remote[1]}"`;
  else if (/lockfile is out of date|--cached-only is specified/.test(text)) what = "a package";
  if (what === undefined) return undefined;
  return {
    message: `cannot import ${what}: the exporter does not download packages at run time`,
    hint: HINT,
  };
}
