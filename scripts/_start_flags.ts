/** The permission and run flags of `deno task start`, which the dev and check-module scripts reuse. */

import { fileURLToPath } from "node:url";

/** The project's root directory, with a trailing slash. */
export const ROOT: string = fileURLToPath(new URL("..", import.meta.url));

/** The words between `deno run` and `main.ts` in the start task: one list of permissions for every task. */
export async function startFlags(): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  // The task asks the deno it runs under for its path (the server may run only itself, to
  // start module hosts): here that is this very executable.
  const task = (config.tasks.start as string).replace(/"\$\(deno eval '[^']*'\)"/, Deno.execPath());
  const words: string[] = task.split(/\s+/);
  // The task installs the dependencies first (`deno install ... && deno run ...`).
  const run = words.lastIndexOf("run");
  return words.slice(run + 1, words.indexOf("main.ts", run));
}
