// A per-module interval: a file's age changes slowly, so check it every minute rather than at
// the exporter's default. Watches this file itself unless FILE_AGE_PATH names another, such as
// a backup.
import { Gauge } from "prom-client";
import type { Module } from "dynamic_exporter";

const path = Deno.env.get("FILE_AGE_PATH") ?? new URL(import.meta.url).pathname;

const age = new Gauge({
  name: "file_age_seconds",
  help: "Seconds since the file was last modified; absent while it cannot be read.",
  labelNames: ["path"],
});

export const interval: Module["interval"] = "1m";

export async function process(): Promise<void> {
  try {
    const { mtime } = await Deno.stat(path);
    age.set({ path }, (Date.now() - (mtime?.getTime() ?? 0)) / 1000);
  } catch (err) {
    age.remove({ path });
    throw err; // the exporter counts it and sets dynamic_exporter_module_up to 0
  }
}
