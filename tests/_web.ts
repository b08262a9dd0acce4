/** Test helpers: the real exporter with a --web.config.file in a temp dir, TLS material from the fixtures. */

import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type Exporter, gaugeModule, startExporter } from "./_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const FIXTURES = fileURLToPath(new URL("fixtures/web", import.meta.url));
/** Fixture users (fixtures/web/README.md): bcrypt cost 10. */
export const PROMETHEUS = "prometheus: $2b$10$JXUsYdU8Z8fglT6oA/MQCePmags4N5PnWnzFgV.HHphEfTsJN7S2O";
export const GRAFANA = "grafana: $2y$10$OBZvWFMGqH1zsPrXh6Z7te.LTR6HPlqnhOjM.tFLO66.AJP./KZIG";
export const AS_PROMETHEUS = { authorization: `Basic ${btoa("prometheus:scrape-secret")}` };
export const AS_GRAFANA = { authorization: `Basic ${btoa("grafana:other-secret")}` };
export const TLS = "tls_server_config:\n  cert_file: tls/cert.pem\n  key_file: tls/key.pem\n";
export const RELOAD_OK = "dynamic_exporter_web_config_last_reload_successful";

export interface Setup {
  exporter: Exporter;
  /** The config dir: web.yml and tls/{cert,key}.pem. */
  dir: string;
  /** --web.config.file as given: relative to the exporter's working directory. */
  config: string;
  /** Trusts ca.pem, which signed server.pem. */
  client: Deno.HttpClient;
  /** Trusts ca2.pem, which signed server2.pem (the "rotated" certificate). */
  client2: Deno.HttpClient;
}

/** The exporter with `webYml` as its --web.config.file (TLS material in tls/, given relative to the cwd). */
export async function withSecuredExporter(
  webYml: string,
  fn: (s: Setup) => Promise<void>,
  args: string[] = [],
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dx_web_" });
  await Deno.mkdir(`${dir}/metrics`);
  await Deno.mkdir(`${dir}/tls`);
  await Deno.writeTextFile(`${dir}/metrics/secured.ts`, gaugeModule("secured_value", 7));
  await Deno.copyFile(`${FIXTURES}/server.pem`, `${dir}/tls/cert.pem`);
  await Deno.copyFile(`${FIXTURES}/server.key`, `${dir}/tls/key.pem`);
  await Deno.writeTextFile(`${dir}/web.yml`, webYml);
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${FIXTURES}/ca.pem`)] });
  const client2 = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(`${FIXTURES}/ca2.pem`)] });
  // A relative --web.config.file: the cert paths inside resolve against its dir, not the cwd.
  const config = relative(ROOT, `${dir}/web.yml`);
  const exporter = await startExporter({
    metricsDir: `${dir}/metrics`,
    args: [`--web.config.file=${config}`, ...args],
  });
  try {
    await fn({ exporter, dir, config, client, client2 });
  } finally {
    await exporter.stop("SIGKILL");
    client.close();
    client2.close();
    await Deno.remove(dir, { recursive: true });
  }
}
