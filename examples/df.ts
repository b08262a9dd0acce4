// Free space per file system, from `df` (a command module). It needs `run` of df, beyond the
// modules' default permissions, so it lives here rather than in metrics/: copy it into your
// metrics dir and start the exporter with --modules.allow-run=df. Its tests replay a recorded
// `df` output: `deno task test-module examples/df.ts`.
import { Gauge } from "prom-client";
import type { ProcessContext } from "dynamic_exporter";

// A host of its own that may run df and nothing else.
export const sandbox = { run: ["df"] };

const labelNames = ["device", "mountpoint"];
const size = new Gauge({ name: "df_size_bytes", help: "File system size, as df reports it.", labelNames });
const avail = new Gauge({
  name: "df_avail_bytes",
  help: "File system space available to non-root users, as df reports it.",
  labelNames,
});

export async function process(ctx: ProcessContext): Promise<void> {
  // -P: the POSIX format, one line per file system; -k: sizes in KiB.
  const { success, stdout, stderr } = await new Deno.Command("df", { args: ["-kP"], signal: ctx.signal })
    .output();
  if (!success) throw new Error(`df failed: ${new TextDecoder().decode(stderr).trim()}`);
  size.reset();
  avail.reset();
  for (const line of new TextDecoder().decode(stdout).trim().split("\n").slice(1)) {
    const [device, blocks, , available, , ...mount] = line.trim().split(/\s+/);
    const labels = { device, mountpoint: mount.join(" ") };
    size.set(labels, Number(blocks) * 1024);
    avail.set(labels, Number(available) * 1024);
  }
}
