// A JSON file a job writes: the state of the last backup, as a backup script leaves it in
// /var/lib/backup/status.json. Set BACKUP_STATUS_FILE to yours; by default this reads the
// sample beside it. Its tests replay recorded files: `deno task test-module metrics/backup_status.ts`.
import { Gauge } from "prom-client";
import type { Module, ProcessContext } from "dynamic_exporter";

const file = Deno.env.get("BACKUP_STATUS_FILE") ??
  new URL("_data/backup_status.json", import.meta.url).pathname;

const lastSuccess = new Gauge({
  name: "backup_last_success_timestamp_seconds",
  help: "When the last backup finished, as Unix time; alert on time() - this.",
  labelNames: ["job"],
});
const size = new Gauge({ name: "backup_size_bytes", help: "Size of the last backup.", labelNames: ["job"] });

// A status file nobody has rewritten for a day means the job itself is gone: stop serving then.
export const maxAge: Module["maxAge"] = "1d";
export const interval: Module["interval"] = "1m";

export async function process(ctx: ProcessContext): Promise<void> {
  const status = JSON.parse(await Deno.readTextFile(file));
  if (!Array.isArray(status.jobs)) throw new Error(`${file}: no "jobs" list`);
  lastSuccess.reset();
  size.reset();
  for (const { name, finished, bytes } of status.jobs) {
    const at = Date.parse(finished);
    if (typeof name !== "string" || Number.isNaN(at)) {
      throw new Error(`${file}: a job without name or finished time`);
    }
    lastSuccess.set({ job: name }, at / 1000);
    if (Number.isFinite(bytes)) size.set({ job: name }, bytes);
  }
  ctx.log.debug("backup status read", { file, jobs: status.jobs.length });
}
