// template_command: runs a command and serves what its output says. Written by
// `deno task new-module template_command --kind=command`; make it yours:
// 1. the command and its arguments, and the command in sandbox.run below;
// 2. the metrics and how process() reads them from the output;
// 3. its fixtures in _fixtures/template_command/, which `deno task test-module` replays: once
//    the module is yours, record a real run with `--record`, delete example/ and
//    key checks.ts to "recorded/1"; or make example/ what your backend gives and `--update`.
// Running a command is beyond what modules may do by default: start the exporter (and
// check-module, test-module --record) with --modules.allow-run=df.
import { Gauge } from "prom-client";
import type { ProcessContext, Sandbox } from "dynamic_exporter";

// No shell: each argument on its own. TEMPLATE_COMMAND_PATH in the --env-file picks the path.
const command = "df";
const args = ["-P", "-k", Deno.env.get("TEMPLATE_COMMAND_PATH") ?? "/"];

// This module's own host gets exactly these permissions.
export const sandbox: Sandbox = {
  run: ["df"],
  env: ["TEMPLATE_COMMAND_PATH"],
};

const available = new Gauge({
  name: "template_command_avail_bytes",
  help: "Bytes available to unprivileged users on the filesystem, as df reports them.",
  labelNames: ["mount"],
});

export async function process(ctx: ProcessContext): Promise<void> {
  const output = await new Deno.Command(command, { args, signal: ctx.signal }).output();
  const text = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    // A throw marks the module down (module_up 0); its last good values stay served.
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`${command} ${args.join(" ")} exited with ${output.code}: ${stderr}`);
  }
  // The output this reads, a header line and one line per filesystem:
  // Filesystem 1024-blocks Used Available Capacity Mounted on
  // /dev/sda1 41152832 22461984 16577412 58% /
  for (const line of text.trim().split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    const kib = Number(fields[3]);
    if (fields.length < 6 || !Number.isFinite(kib)) throw new Error(`${command}: unexpected line ${line}`);
    available.set({ mount: fields.slice(5).join(" ") }, kib * 1024);
  }
}
