/**
 * `deno task dev [flags]`: the exporter at debug level, restarted when its own code changes.
 *
 * Not `deno run --watch`: Deno's watcher follows every module the process imports, the metric
 * modules included, so with --metrics.dir outside the project each module edit restarted the
 * whole exporter (the exclusion only covered ./metrics/), and a SIGTERM stopped the exporter but
 * left the watcher waiting for the next change (issue 11). This runner watches exactly the
 * exporter's code (main.ts, lib/, deno.json, deno.lock), wherever the metrics dir is, and stops
 * with the exporter.
 */

import { ROOT, startFlags } from "./_start_flags.ts";

/** What is the exporter's own code. */
const WATCHED = ["main.ts", "lib", "deno.json", "deno.lock"];
/** An editor's save is several events: one restart for them all. */
const DEBOUNCE_MS = 200;

function say(message: string): void {
  console.error(`dev: ${message}`);
}

async function main(args: string[]): Promise<number> {
  const flags = await startFlags();
  const exporterArgs = args.some((a) => a === "--log.level" || a.startsWith("--log.level="))
    ? args
    : ["--log.level=debug", ...args];
  const spawn = () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, `${ROOT}main.ts`, ...exporterArgs],
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();

  const watcher = Deno.watchFs(WATCHED.map((path) => `${ROOT}${path}`), { recursive: true });
  const changed = (async function* () {
    for await (const event of watcher) {
      if (event.kind === "access" || event.kind === "other") continue;
      yield event.paths;
    }
  })();
  let nextChange = changed.next();

  const stop = Promise.withResolvers<Deno.Signal>();
  const onTerm = () => stop.resolve("SIGTERM");
  const onInt = () => stop.resolve("SIGINT");
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onInt);

  let child: Deno.ChildProcess | undefined = spawn();
  try {
    while (true) {
      const exited = child ? child.status.then((status) => ({ kind: "exit" as const, status })) : undefined;
      const outcome = await Promise.race([
        stop.promise.then((signal) => ({ kind: "signal" as const, signal })),
        nextChange.then((change) => ({ kind: "change" as const, change })),
        ...exited ? [exited] : [],
      ]);
      if (outcome.kind === "signal") {
        // The exporter stops on the same signal; the runner ends with it, leaving nothing behind.
        if (!child) return 0;
        try {
          child.kill(outcome.signal);
        } catch { /* already exited */ }
        return (await child.status).code;
      }
      if (outcome.kind === "exit") {
        child = undefined;
        // Stopped cleanly (a signal sent to it directly): the dev session is over.
        if (outcome.status.success) return 0;
        say(`exporter exited with code ${outcome.status.code}; restarting when its code changes`);
        continue;
      }
      // A change to the exporter's code: wait for the save to settle, then restart.
      const change = await outcome.change;
      if (change.done) return 1;
      const paths = new Set(change.value);
      while (true) {
        nextChange = changed.next();
        const more = await Promise.race([
          nextChange,
          new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), DEBOUNCE_MS)),
        ]);
        if (more === undefined || more.done) break;
        for (const path of more.value) paths.add(path);
      }
      say(`restarting: ${[...paths].map((p) => p.replace(ROOT, "")).join(", ")} changed`);
      if (child) {
        try {
          child.kill("SIGTERM");
        } catch { /* already exited */ }
        await child.status;
      }
      child = spawn();
    }
  } finally {
    Deno.removeSignalListener("SIGTERM", onTerm);
    Deno.removeSignalListener("SIGINT", onInt);
    watcher.close();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
