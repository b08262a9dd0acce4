/** Test helpers: the names of the exporter's per-module self-metric series, as parseSamples keys them. */

export const up = (m: string): string => `dynamic_exporter_module_up{module="${m}"}`;
export const loadOk = (m: string): string => `dynamic_exporter_module_last_load_successful{module="${m}"}`;
export const errors = (m: string, reason: string): string =>
  `dynamic_exporter_module_process_errors_total{module="${m}",reason="${reason}"}`;
export const reloads = (m: string, result: string): string =>
  `dynamic_exporter_module_reloads_total{module="${m}",result="${result}"}`;
export const lastSuccess = (m: string): string =>
  `dynamic_exporter_module_last_success_timestamp_seconds{module="${m}"}`;
