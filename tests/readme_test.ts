/**
 * README.md (issue 18): its table of contents and links lead somewhere, and the editor step it
 * documents for a metrics dir outside the checkout works.
 */

import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const README = "README.md";

/** The lines of `markdown` outside fenced code blocks. */
function prose(markdown: string): string[] {
  let fenced = false;
  return markdown.split("\n").filter((line) => {
    if (line.startsWith("```")) fenced = !fenced;
    return !fenced && !line.startsWith("```");
  });
}

/**
 * GitHub's anchor for a heading: its text lowercased, every character but letters, digits, spaces,
 * `-` and `_` removed, each space turned into `-`.
 */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{M}\p{N} _-]/gu, "").replace(/ /g, "-");
}

/** The headings of `markdown` outside code, with GitHub's anchors (`-1`, `-2` for repeats). */
function headings(markdown: string): { level: number; text: string; anchor: string }[] {
  const seen = new Map<string, number>();
  return prose(markdown).flatMap((line) => {
    const match = /^(#{1,6}) (.+)$/.exec(line);
    if (!match) return [];
    const base = slug(match[2]);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    return [{ level: match[1].length, text: match[2], anchor: count === 0 ? base : `${base}-${count}` }];
  });
}

/** The targets of the inline links in `lines`. */
function links(lines: string[]): string[] {
  return lines.flatMap((line) => [...line.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]));
}

/** Every `.md` file the checks below read: the README and the pages in docs/. */
async function pages(): Promise<string[]> {
  const docs: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, "docs"))) {
    if (entry.isFile && entry.name.endsWith(".md")) docs.push(`docs/${entry.name}`);
  }
  return [README, ...docs.sort()];
}

Deno.test("slug makes GitHub's anchors of the README's headings", () => {
  assert.deepEqual(
    [
      "What `/` shows, and who should see it",
      "Prometheus: scrape config and alerts",
      "Porting a module from the Python tool",
      "Limits of in-process modules",
      "The binary",
    ].map(slug),
    [
      "what--shows-and-who-should-see-it",
      "prometheus-scrape-config-and-alerts",
      "porting-a-module-from-the-python-tool",
      "limits-of-in-process-modules",
      "the-binary",
    ],
  );
});

Deno.test("the README's table of contents links every section, each to a heading or a file in docs/", async () => {
  const text = await Deno.readTextFile(join(ROOT, README));
  const all = headings(text);
  const lines = prose(text);
  const start = lines.indexOf("## Contents");
  assert.notEqual(start, -1, "the README has a ## Contents section");
  const end = lines.findIndex((line, i) => i > start && line.startsWith("## "));
  const targets = links(lines.slice(start + 1, end));

  const anchors = new Set(all.map((h) => h.anchor));
  const sections = all.filter((h) => (h.level === 2 || h.level === 3) && h.text !== "Contents");
  assert.deepEqual(
    sections.filter((h) => !targets.includes(`#${h.anchor}`)).map((h) => h.text),
    [],
    "sections the table of contents leaves out",
  );
  assert.deepEqual(
    targets.filter((t) => t.startsWith("#") && !anchors.has(t.slice(1))),
    [],
    "anchors that name no heading",
  );
  const files = targets.filter((t) => !t.startsWith("#"));
  assert.ok(files.length > 0, "the table of contents links the internals in docs/");
  for (const file of files) {
    assert.match(file, /^docs\/[\w.-]+\.md$/);
    assert.ok((await Deno.stat(join(ROOT, file))).isFile, `${file} exists`);
  }
});

Deno.test("every relative link in README.md and docs/ names an existing file, and its #anchor a heading there", async () => {
  const broken: string[] = [];
  for (const page of await pages()) {
    for (const target of links(prose(await Deno.readTextFile(join(ROOT, page))))) {
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const [path, anchor] = target.split("#");
      const file = path === "" ? page : normalize(join(dirname(page), path));
      let text: string;
      try {
        text = await Deno.readTextFile(join(ROOT, file));
      } catch {
        broken.push(`${page}: ${target} (no file ${file})`);
        continue;
      }
      if (anchor !== undefined && !headings(text).some((h) => h.anchor === anchor)) {
        broken.push(`${page}: ${target} (no heading #${anchor} in ${file})`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("the README's editor step type-checks a metrics dir outside the checkout", async () => {
  const text = await Deno.readTextFile(join(ROOT, README));
  const step = text.split("\n").find((line) => line.includes('"importMap"'));
  assert.ok(step, "the README shows the deno.json of its editor step");
  const dir = await Deno.makeTempDir({ prefix: "dx_editor_" });
  try {
    // One directory above the metrics dir, as the README suggests, with the checkout's real path.
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      step.replace("/path/to/dynamic_exporter", ROOT.replace(/\/$/, "")),
    );
    await Deno.mkdir(`${dir}/metrics`);
    await Deno.writeTextFile(
      `${dir}/metrics/good.ts`,
      `import { Gauge } from "prom-client";
import type { ProcessContext } from "dynamic_exporter";
const g = new Gauge({ name: "good_value", help: "typed" });
export function process(ctx: ProcessContext): void {
  ctx.log.debug("ran");
  g.set(1);
}
`,
    );
    await Deno.writeTextFile(
      `${dir}/metrics/bad.ts`,
      `import { Gauge } from "prom-client";
const g = new Gauge({ name: "bad_value", help: "mistyped" });
export function process(): void {
  g.set("zero");
}
`,
    );
    // One run for both files (a type check of prom-client takes seconds): only bad.ts may fail.
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["check", "good.ts", "bad.ts"],
      cwd: `${dir}/metrics`,
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    const output = new TextDecoder().decode(stderr);
    assert.equal(code, 1, output);
    assert.deepEqual(
      [...output.matchAll(/TS\d+ \[ERROR\]: (.*)\n(?:.*\n)*?\s+at file:\/\/\S+\/metrics\/(\S+)/g)].map((
        m,
      ) => [m[1], m[2]]),
      [["Argument of type 'string' is not assignable to parameter of type 'number'.", "bad.ts:4:9"]],
      output,
    );
    // "lock": false: nothing is written beside the modules.
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(),
      ["deno.json", "metrics"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
