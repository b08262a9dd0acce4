/**
 * `deno task compile`: runs `deno compile` with the flags the task gives (deno.json keeps that one
 * list: the binary's permissions are the start task's), building into a temp dir beside the
 * output and moving the binary into place only when it is whole. Without network, Deno 2.9.6
 * printed its raw DNS error with a stack backtrace and left an empty dist/ (issue 11); this says
 * in one line what to do: point DENORT_BIN at a denort of the same Deno version.
 */

import { basename, dirname, resolve } from "node:path";

const PREFIX = "compile:";

/**
 * The modules' ceiling given to the compile task (`deno task compile --modules.allow-sys=hostname`):
 * each `--modules.allow-<kind>[=v]` becomes the binary's own `--allow-<kind>[=v]` (unless it holds
 * the whole kind already) and is baked as a default argument, which a run-time flag replaces.
 */
export function withCeiling(args: string[]): string[] {
  const ceiling = args.filter((a) => /^--modules\.allow-[a-z]+(=|$)/.test(a));
  if (ceiling.length === 0) return args;
  const rest = args.filter((a) => !ceiling.includes(a));
  const entry = rest.indexOf("main.ts");
  const permissions = ceiling.flatMap((flag) => {
    const allow = flag.replace(/^--modules\./, "--");
    const kind = allow.split("=")[0];
    return rest.includes(kind) ? [] : [allow];
  });
  return [
    ...rest.slice(0, entry),
    ...permissions,
    ...rest.slice(entry, entry + 1),
    ...ceiling,
    ...rest.slice(entry + 1),
  ];
}

async function main(args: string[]): Promise<number> {
  args = withCeiling(args);
  const at = args.findIndex((a) => a.startsWith("--output="));
  if (at < 0) {
    console.error(`${PREFIX} the compile task must give --output=<path>`);
    return 2;
  }
  const output = resolve(args[at].slice("--output=".length));
  const denort = Deno.env.get("DENORT_BIN");
  const wanted =
    `a denort of Deno ${Deno.version.deno} for ${Deno.build.target} (the runtime \`deno compile\` ` +
    `embeds: https://dl.deno.land/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip, unzipped)`;
  if (denort !== undefined) {
    const info = await Deno.stat(denort).catch(() => undefined);
    if (!info?.isFile) {
      console.error(`${PREFIX} DENORT_BIN="${denort}" is not a file; it must point to ${wanted}`);
      return 1;
    }
  }

  // Next to the output, so that the final rename stays on one file system.
  const parent = dirname(output);
  const createdParent = await Deno.stat(parent).then(() => false, () => true);
  await Deno.mkdir(parent, { recursive: true });
  const staging = await Deno.makeTempDir({ dir: parent, prefix: ".compile_" });
  const compile = new Deno.Command(Deno.execPath(), {
    args: ["compile", ...args.with(at, `--output=${staging}/${basename(output)}`)],
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stop = () => {
    try {
      compile.kill("SIGTERM");
    } catch { /* already done */ }
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const { success, stderr } = await compile.output();
    if (!success) {
      const text = new TextDecoder().decode(stderr);
      if (
        /denort|dl\.deno\.land|base binary/i.test(text) &&
        /dns error|error sending request|connect/i.test(text)
      ) {
        console.error(
          `${PREFIX} cannot download Deno's runtime (dl.deno.land is unreachable); set DENORT_BIN to ${wanted}`,
        );
      } else {
        // Deno's own words (a type error, say), without its backtrace.
        console.error(text.replace(/\n*Stack backtrace:[\s\S]*$/, "").trimEnd());
        console.error(`${PREFIX} deno compile failed; nothing was written`);
      }
      return 1;
    }
    await Deno.rename(`${staging}/${basename(output)}`, output);
    console.error(`${PREFIX} wrote ${output}`);
    return 0;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    if (createdParent) await Deno.remove(parent).catch(() => {}); // only if still empty
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
