/** The entry of a module host under `deno run` (the compiled binary enters through main.ts). */

import { parseHostArgs, runHost } from "./host_main.ts";

if (import.meta.main) await runHost(parseHostArgs(Deno.args));
