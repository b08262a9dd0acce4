import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { currentFingerprint, loadWebConfig, WebConfigError } from "./web_config.ts";

const DIR = fileURLToPath(new URL("../../tests/fixtures/web", import.meta.url));
const HASH_B = "$2b$10$JXUsYdU8Z8fglT6oA/MQCePmags4N5PnWnzFgV.HHphEfTsJN7S2O";
const HASH_Y = "$2y$10$OBZvWFMGqH1zsPrXh6Z7te.LTR6HPlqnhOjM.tFLO66.AJP./KZIG";

/** Every `*.bad.yml` fixture and the error it gives, after `--web.config.file "<path>": `. */
const BAD: Record<string, string> = {
  "bad_hash.bad.yml":
    "basic_auth_users.prometheus: not a bcrypt hash; expected $2a$, $2b$ or $2y$, a cost and 53 characters",
  "bad_tls_version.bad.yml":
    'tls_server_config.min_version: unknown TLS version "TLS1.2"; expected one of TLS10, TLS11, TLS12, TLS13',
  "cert_not_pem.bad.yml": `tls_server_config.cert_file "${DIR}/README.md": no PEM CERTIFICATE block`,
  "cert_without_key.bad.yml": "tls_server_config: missing one of key or key_file",
  "client_auth.bad.yml":
    'tls_server_config.client_auth_type: "RequireAnyClientCert": client certificate authentication is not supported by dynamic_exporter',
  "client_ca.bad.yml":
    "tls_server_config.client_ca_file: client certificate authentication is not supported by dynamic_exporter",
  "duplicate_key.bad.yml": `invalid YAML: duplicated mapping key in "${DIR}/duplicate_key.bad.yml" (3:3)`,
  "hash_2x.bad.yml":
    "basic_auth_users.prometheus: not a bcrypt hash; expected $2a$, $2b$ or $2y$, a cost and 53 characters",
  "header_bad_value.bad.yml":
    'http_server_config.headers.X-Frame-Options: "allow" is not one of deny, sameorigin',
  "header_not_allowed.bad.yml":
    'http_server_config.headers: "Server" cannot be set; allowed: Strict-Transport-Security, X-Content-Type-Options, X-Frame-Options, X-XSS-Protection, Content-Security-Policy',
  "key_mismatch.bad.yml":
    `tls_server_config.key_file "${DIR}/other.key": the key does not match the certificate (subject "CN=localhost")`,
  "list_top.bad.yml": "the top level must be a mapping of keys",
  "min_version_tls13.bad.yml":
    "tls_server_config.min_version: TLS13 cannot be enforced; Deno's TLS server always accepts TLS 1.2",
  "missing_cert.bad.yml":
    `tls_server_config.cert_file: cannot read "${DIR}/does_not_exist.pem": no such file`,
  "not_yaml.bad.yml":
    `invalid YAML: unexpected end of the stream within a double quoted scalar in "${DIR}/not_yaml.bad.yml" (3:1)`,
  "rate_limit.bad.yml": "rate_limit: rate limiting is not supported by dynamic_exporter",
  "unknown_key.bad.yml":
    'unknown key "basic_auth_user"; known keys: tls_server_config, http_server_config, basic_auth_users, rate_limit',
  "unknown_tls_key.bad.yml":
    'unknown key "tls_server_config.certfile"; known keys in tls_server_config: cert_file, key_file, cert, key, min_version, max_version, client_auth_type, client_ca_file, client_ca, client_allowed_sans, cipher_suites, curve_preferences, prefer_server_cipher_suites',
};

Deno.test("every bad web config fixture has an expected error in the table", async () => {
  const bad = [];
  for await (const entry of Deno.readDir(DIR)) if (entry.name.endsWith(".bad.yml")) bad.push(entry.name);
  assert.deepEqual(bad.sort(), Object.keys(BAD).sort());
});

for (const [name, message] of Object.entries(BAD)) {
  Deno.test(`loadWebConfig rejects ${name} with one line naming the key`, async () => {
    const path = `${DIR}/${name}`;
    const err = await loadWebConfig(path).then(() => undefined, (err) => err);
    assert.ok(err instanceof WebConfigError, String(err));
    assert.equal(err.message, `--web.config.file "${path}": ${message}`);
    assert.ok(!err.message.includes("\n"));
  });
}

Deno.test("loadWebConfig reads TLS files relative to the config file's directory, users and headers", async () => {
  const config = await loadWebConfig(`${DIR}/tls_auth.good.yml`);
  assert.equal(config.tls?.cert, await Deno.readTextFile(`${DIR}/server.pem`));
  assert.equal(config.tls?.key, await Deno.readTextFile(`${DIR}/server.key`));
  assert.equal(config.tls?.notAfter.slice(0, 4), "2126");
  assert.match(config.tls?.fingerprint ?? "", /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.deepEqual([...config.users], [["prometheus", HASH_B], ["grafana", HASH_Y]]);
  assert.deepEqual(config.headers, {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "deny",
    "Strict-Transport-Security": "max-age=31536000",
  });
  assert.deepEqual(config.files, [`${DIR}/tls_auth.good.yml`, `${DIR}/server.pem`, `${DIR}/server.key`]);
});

Deno.test("loadWebConfig accepts the TLS options that Deno's TLS already satisfies", async () => {
  const config = await loadWebConfig(`${DIR}/tls_only.good.yml`);
  assert.ok(config.tls);
  assert.equal(config.users.size, 0);
});

Deno.test("an empty web config enables nothing", async () => {
  const config = await loadWebConfig(`${DIR}/empty.good.yml`);
  assert.equal(config.tls, undefined);
  assert.equal(config.users.size, 0);
  assert.deepEqual(config.headers, {});
});

Deno.test("loadWebConfig resolves a relative config path against the working directory", async () => {
  const relative = `${DIR}/auth_only.good.yml`.slice(Deno.cwd().length + 1);
  const config = await loadWebConfig(relative);
  assert.deepEqual(config.files, [`${DIR}/auth_only.good.yml`]);
});

Deno.test("the fingerprint changes with the content of the certificate file, not only the YAML", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dx_webcfg_" });
  try {
    await Deno.copyFile(`${DIR}/server.pem`, `${dir}/cert.pem`);
    await Deno.copyFile(`${DIR}/server.key`, `${dir}/key.pem`);
    await Deno.writeTextFile(
      `${dir}/web.yml`,
      "tls_server_config: {cert_file: cert.pem, key_file: key.pem}\n",
    );
    const before = await loadWebConfig(`${dir}/web.yml`);
    assert.equal((await loadWebConfig(`${dir}/web.yml`)).fingerprint, before.fingerprint);
    assert.equal(await currentFingerprint(before), before.fingerprint);
    await Deno.copyFile(`${DIR}/server2.pem`, `${dir}/cert.pem`);
    await Deno.copyFile(`${DIR}/server2.key`, `${dir}/key.pem`);
    const after = await loadWebConfig(`${dir}/web.yml`);
    assert.notEqual(after.fingerprint, before.fingerprint);
    assert.notEqual(after.tls?.fingerprint, before.tls?.fingerprint);
    assert.equal(await currentFingerprint(before), after.fingerprint);
    await Deno.remove(`${dir}/key.pem`);
    assert.equal(await currentFingerprint(before), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("inline cert and key are accepted, and setting both forms is an error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dx_webcfg_" });
  try {
    const cert = JSON.stringify(await Deno.readTextFile(`${DIR}/server.pem`));
    const key = JSON.stringify(await Deno.readTextFile(`${DIR}/server.key`));
    await Deno.writeTextFile(`${dir}/inline.yml`, `tls_server_config:\n  cert: ${cert}\n  key: ${key}\n`);
    assert.ok((await loadWebConfig(`${dir}/inline.yml`)).tls);
    await Deno.writeTextFile(
      `${dir}/both.yml`,
      `tls_server_config:\n  cert: ${cert}\n  cert_file: ${DIR}/server.pem\n  key: ${key}\n`,
    );
    await assert.rejects(loadWebConfig(`${dir}/both.yml`), {
      message: `--web.config.file "${dir}/both.yml": tls_server_config: set cert or cert_file, not both`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing web config file is a clear error", async () => {
  await assert.rejects(loadWebConfig(`${DIR}/nope.yml`), {
    name: "WebConfigError",
    message: `--web.config.file "${DIR}/nope.yml": config: cannot read "${DIR}/nope.yml": no such file`,
  });
});
