/** --web.config.file end to end: the real exporter over TLS with basic auth, re-read without a restart. */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { scrape, startTaskFlags, waitFor } from "./_server.ts";
import {
  AS_GRAFANA,
  AS_PROMETHEUS,
  GRAFANA,
  PROMETHEUS,
  RELOAD_OK,
  TLS,
  withSecuredExporter,
} from "./_web.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const FIXTURES = fileURLToPath(new URL("fixtures/web", import.meta.url));

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
