// template_file: reads a JSON status file (a backup job's, say) and serves what it says. Written
// by `deno task new-module template_file --kind=file`; make it yours:
// 1. the file (here, or TEMPLATE_FILE_PATH in the exporter's --env-file), and the same path in
//    sandbox.read below;
// 2. the metrics and how process() reads them from the file;
// 3. its fixtures in _fixtures/template_file/, which `deno task test-module` replays: once
//    the module is yours, record a real read with `--record`, delete example/ and
//    key checks.ts to "recorded/1"; or make example/ what your backend gives and `--update`.
import { Gauge } from "prom-client";
import type { Module, Sandbox } from "dynamic_exporter";

const path = Deno.env.get("TEMPLATE_FILE_PATH") ??
  "/var/lib/template_file/status.json";

// This module's own host gets exactly these permissions: a file elsewhere needs its path here too
// (or "$TEMPLATE_FILE_PATH", which then must be set in the --env-file).
export const sandbox: Sandbox = {
  read: ["/var/lib/template_file/status.json"],
  env: ["TEMPLATE_FILE_PATH"],
};

// A status file changes slowly: read it every minute (default --collect.interval).
export const interval: Module["interval"] = "1m";

const lastSuccess = new Gauge({
  name: "template_file_last_success_timestamp_seconds",
  help: "When the job last succeeded, from its status file.",
});

export async function process(): Promise<void> {
  // A missing or unreadable file throws: the module is down (module_up 0), its last values stay.
  const text = await Deno.readTextFile(path);
  // The file this reads: {"last_success": "2025-01-06T03:00:00Z"}
  let status;
  try {
    status = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not JSON: ${(err as Error).message}`);
  }
  const at = Date.parse(status?.last_success);
  if (Number.isNaN(at)) throw new Error(`${path}: "last_success" is not a date`);
  lastSuccess.set(at / 1000);
}
