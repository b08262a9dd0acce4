/** --web.config.file end to end: the real exporter over TLS with basic auth, re-read without a restart. */

import assert from "node:assert/strict";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { type Exporter, gaugeModule, scrape, startExporter, startTaskFlags, waitFor } from "./_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = fileURLToPath(new URL("fixtures/web", import.meta.url));
const PROMETHEUS = "prometheus: $2b$10$JXUsYdU8Z8fglT6oA/MQCePmags4N5PnWnzFgV.HHphEfTsJN7S2O";
const GRAFANA = "grafana: $2y$10$OBZvWFMGqH1zsPrXh6Z7te.LTR6HPlqnhOjM.tFLO66.AJP./KZIG";
const AS_PROMETHEUS = { authorization: `Basic ${btoa("prometheus:scrape-secret")}` };
const AS_GRAFANA = { authorization: `Basic ${btoa("grafana:other-secret")}` };
const TLS = "tls_server_config:\n  cert_file: tls/cert.pem\n  key_file: tls/key.pem\n";
const RELOAD_OK = "dynamic_exporter_web_config_last_reload_successful";

interface Setup {
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

async function withSecuredExporter(
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

async function status(url: string, client: Deno.HttpClient, headers: HeadersInit = {}): Promise<number> {
  const response = await fetch(url, { client, headers });
  await response.body?.cancel();
  return response.status;
}

Deno.test("with TLS and basic auth, every path but /-/healthy needs credentials", () =>
  withSecuredExporter(
    `${TLS}basic_auth_users:\n  ${PROMETHEUS}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n`,
    async ({ exporter, client }) => {
      assert.match(exporter.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const denied = await fetch(`${exporter.url}/metrics`, { client });
      assert.deepEqual(
        {
          status: denied.status,
          body: await denied.text(),
          challenge: denied.headers.get("www-authenticate"),
          frame: denied.headers.get("x-frame-options"),
        },
        {
          status: 401,
          body: "Unauthorized\n",
          challenge: 'Basic realm="dynamic_exporter", charset="UTF-8"',
          frame: "deny",
        },
      );
      for (const path of ["/", "/-/ready", "/nope"]) {
        assert.equal(
          await status(`${exporter.url}${path}`, client),
          401,
        );
      }
      assert.equal(await status(`${exporter.url}/metrics`, client, AS_GRAFANA), 401);
      assert.equal(await status(`${exporter.url}/-/healthy`, client), 200);

      let samples = new Map<string, number>();
      await waitFor(async () =>
        (samples = await scrape(exporter.url, AS_PROMETHEUS, client)).has("secured_value")
      );
      assert.equal(samples.get("secured_value"), 7);
      assert.equal(samples.get(RELOAD_OK), 1);
      // The same port does not answer plain HTTP.
      await assert.rejects(fetch(exporter.url.replace("https:", "http:") + "/-/healthy"));
    },
  ));

Deno.test("a new user and a rotated certificate take effect without a restart", () =>
  withSecuredExporter(
    `${TLS}basic_auth_users:\n  ${PROMETHEUS}\n`,
    async ({ exporter, dir, client, client2 }) => {
      // A new user, applied on SIGHUP.
      await Deno.writeTextFile(`${dir}/web.yml`, `${TLS}basic_auth_users:\n  ${PROMETHEUS}\n  ${GRAFANA}\n`);
      exporter.process.kill("SIGHUP");
      await waitFor(async () => await status(`${exporter.url}/metrics`, client, AS_GRAFANA) === 200);

      // A certificate renewed in place, with no signal: the exporter polls the files' content.
      await Deno.copyFile(`${FIXTURES}/server2.key`, `${dir}/tls/key.pem.new`);
      await Deno.copyFile(`${FIXTURES}/server2.pem`, `${dir}/tls/cert.pem.new`);
      await Deno.rename(`${dir}/tls/key.pem.new`, `${dir}/tls/key.pem`);
      await Deno.rename(`${dir}/tls/cert.pem.new`, `${dir}/tls/cert.pem`);
      await waitFor(async () => await status(`${exporter.url}/-/healthy`, client2) === 200, {
        timeoutMs: 15_000,
      });
      await assert.rejects(fetch(`${exporter.url}/-/healthy`, { client }));
      assert.equal((await scrape(exporter.url, AS_GRAFANA, client2)).get(RELOAD_OK), 1);
      const reloaded = await exporter.waitForLog((r) =>
        r.msg === "web config reloaded" && r.reason === "changed on disk"
      );
      assert.equal(reloaded.cert_sha256, await fingerprint(`${FIXTURES}/server2.pem`));
    },
  ));

Deno.test("POST /-/reload needs credentials and re-reads the web config with the modules", () =>
  withSecuredExporter(`${TLS}basic_auth_users:\n  ${PROMETHEUS}\n`, async ({ exporter, dir, client }) => {
    await Deno.writeTextFile(`${dir}/web.yml`, `${TLS}basic_auth_users:\n  ${GRAFANA}\n`);
    const post = async (headers: HeadersInit) => {
      const response = await fetch(`${exporter.url}/-/reload`, { method: "POST", client, headers });
      return { status: response.status, body: await response.text() };
    };
    assert.equal((await post({})).status, 401);
    assert.deepEqual(await post(AS_PROMETHEUS), { status: 200, body: "Reloaded.\n" });
    // Applied by the time the reload answered: no polling needed.
    assert.equal(await status(`${exporter.url}/metrics`, client, AS_GRAFANA), 200);
    assert.equal(await status(`${exporter.url}/metrics`, client, AS_PROMETHEUS), 401);
  }, ["--web.enable-lifecycle"]));

async function fingerprint(pem: string): Promise<string> {
  const { X509Certificate } = await import("node:crypto");
  return new X509Certificate(await Deno.readTextFile(pem)).fingerprint256;
}

Deno.test("a broken web config on disk keeps the last good one serving and reports 0", () =>
  withSecuredExporter(
    `${TLS}basic_auth_users:\n  ${PROMETHEUS}\n`,
    async ({ exporter, dir, config, client }) => {
      await Deno.writeTextFile(`${dir}/web.yml`, `${TLS}basic_auth_users:\n  prometheus: scrape-secret\n`);
      exporter.process.kill("SIGHUP");
      // The old users still get in, and the self-metric reports the rejected file.
      await waitFor(async () => (await scrape(exporter.url, AS_PROMETHEUS, client)).get(RELOAD_OK) === 0);
      const failure = await exporter.waitForLog((r) =>
        r.msg === "web config reload failed; the previous config keeps serving"
      );
      assert.equal(
        failure.err,
        `--web.config.file "${config}": basic_auth_users.prometheus: not a bcrypt hash; expected $2a$, $2b$ or $2y$, a cost and 53 characters`,
      );
      assert.equal(await status(`${exporter.url}/metrics`, client), 401);
    },
  ));

Deno.test("a bad web config at start exits 2 with one line naming the file and the key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dx_web_" });
  try {
    for (
      const [fixture, expected] of [
        [
          "missing_cert.bad.yml",
          `tls_server_config.cert_file: cannot read "${FIXTURES}/does_not_exist.pem": no such file`,
        ],
        [
          "unknown_key.bad.yml",
          'unknown key "basic_auth_user"; known keys: tls_server_config, http_server_config, basic_auth_users, rate_limit',
        ],
      ]
    ) {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...await startTaskFlags(),
          "main.ts",
          `--metrics.dir=${dir}`,
          `--web.config.file=${FIXTURES}/${fixture}`,
        ],
        cwd: ROOT,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.deepEqual(
        { code, stdout: new TextDecoder().decode(stdout), stderr: new TextDecoder().decode(stderr) },
        {
          code: 2,
          stdout: "",
          stderr: `dynamic_exporter: --web.config.file "${FIXTURES}/${fixture}": ${expected}\n`,
        },
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
