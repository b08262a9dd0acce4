/**
 * The module hosts of a one-off command (check, test, check --suggest-sandbox): the exporter's
 * host settings from its flags, and the exporter's reserved metric names, so that a module
 * fails here as it would in the exporter.
 */

import { Registry } from "prom-client";
import type { Config } from "../flags.ts";
import { selfMetrics } from "../exposition/self_metrics.ts";
import { MetricOwnership, type PromRegistry } from "../modules/ownership.ts";
import { ProcessHost, type ProcessHostOptions } from "./process_host.ts";

/** What a command takes of the exporter's flags for its hosts. */
export interface CommandHostSettings {
  hosts: Pick<Config, "moduleCeiling" | "sharedMemoryBytes" | "hostGraceMs" | "hostHeartbeatMs">;
  /** The import timeout, as the exporter's --collect.timeout. */
  collectTimeoutMs: number;
  /** --modules.sandbox. Default: false. */
  sandboxAll?: boolean;
}

/**
 * A ProcessHost with `settings`, and `options` over them. Its metric names are owned in
 * `registry` (default: a registry of its own, so each host starts from nothing).
 */
export function commandHost(
  settings: CommandHostSettings,
  options: Omit<ProcessHostOptions, keyof ProcessHostDefaults> & Partial<ProcessHostDefaults>,
  registry: PromRegistry = new Registry() as unknown as PromRegistry,
): ProcessHost {
  const reserved = selfMetrics([], { version: "", deno: "", v8: "", typescript: "" }, 0);
  return new ProcessHost({
    ownership: new MetricOwnership(registry, { reserved }),
    loadTimeoutMs: settings.collectTimeoutMs,
    sandboxAll: settings.sandboxAll ?? false,
    ceiling: settings.hosts.moduleCeiling,
    sharedMemoryBytes: settings.hosts.sharedMemoryBytes,
    heartbeatMs: settings.hosts.hostHeartbeatMs,
    graceMs: settings.hosts.hostGraceMs,
    ...options,
  });
}

type ProcessHostDefaults = Pick<
  ProcessHostOptions,
  "ownership" | "loadTimeoutMs" | "sandboxAll" | "ceiling" | "sharedMemoryBytes" | "heartbeatMs" | "graceMs"
>;
