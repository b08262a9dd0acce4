import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Logger } from "../log.ts";
import type { TlsMaterial } from "./web_config.ts";
import { WebConfigWatcher } from "./web_config_watcher.ts";

const FIXTURES = fileURLToPath(new URL("../../tests/fixtures/web", import.meta.url));
const PROMETHEUS = "prometheus: $2b$10$JXUsYdU8Z8fglT6oA/MQCePmags4N5PnWnzFgV.HHphEfTsJN7S2O";
const GRAFANA = "grafana: $2y$10$OBZvWFMGqH1zsPrXh6Z7te.LTR6HPlqnhOjM.tFLO66.AJP./KZIG";
const AS_PROMETHEUS = `Basic ${btoa("prometheus:scrape-secret")}`;
const AS_GRAFANA = `Basic ${btoa("grafana:other-secret")}`;

interface Setup {
  dir: string;
  lines: string[];
  tlsChanges: (TlsMaterial | undefined)[];
  write(yaml: string): Promise<void>;
  open(options?: { pollMs?: number; failTls?: boolean }): Promise<WebConfigWatcher>;
}

async function withDir(fn: (s: Setup) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dx_webwatch_" });
  for (const name of ["server.pem", "server.key", "server2.pem", "server2.key"]) {
    await Deno.copyFile(`${FIXTURES}/${name}`, `${dir}/${name}`);
  }
  const lines: string[] = [];
  const tlsChanges: (TlsMaterial | undefined)[] = [];
  const watchers: WebConfigWatcher[] = [];
  const setup: Setup = {
    dir,
    lines,
    tlsChanges,
    write: (yaml) => Deno.writeTextFile(`${dir}/web.yml`, yaml),
    async open({ pollMs = 0, failTls = false } = {}) {
      const watcher = await WebConfigWatcher.open(`${dir}/web.yml`, {
        log: new Logger({ write: (line) => lines.push(line) }),
        pollMs,
        onTlsChange: (tls) => {
          if (failTls) return Promise.reject(new Error("cannot bind"));
          tlsChanges.push(tls);
          return Promise.resolve();
        },
      });
      watchers.push(watcher);
      return watcher;
    },
  };
  try {
    await fn(setup);
  } finally {
    for (const watcher of watchers) watcher.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a new user in the file takes effect on reload", () =>
  withDir(async ({ write, open }) => {
    await write(`basic_auth_users:\n  ${PROMETHEUS}\n`);
    const watcher = await open();
    assert.equal(await watcher.policy().auth!.check(AS_GRAFANA), false);
    await write(`basic_auth_users:\n  ${PROMETHEUS}\n  ${GRAFANA}\n`);
    assert.equal(await watcher.reload("test"), true);
    assert.equal(await watcher.policy().auth!.check(AS_GRAFANA), true);
    assert.equal(watcher.status().lastReloadSuccessful, true);
  }));

Deno.test("an unchanged file keeps the same policy object, with its cache", () =>
  withDir(async ({ write, open }) => {
    await write(`basic_auth_users:\n  ${PROMETHEUS}\n`);
    const watcher = await open();
    const before = watcher.policy();
    const generation = watcher.generation;
    assert.equal(await watcher.reload("test"), true);
    assert.equal(watcher.policy(), before);
    assert.equal(watcher.generation, generation);
  }));

Deno.test("a broken file keeps the last good config serving and reports the failure once", () =>
  withDir(async ({ write, open, lines }) => {
    await write(`basic_auth_users:\n  ${PROMETHEUS}\n`);
    const watcher = await open();
    const good = watcher.policy();
    await write(`basic_auth_users:\n  prometheus: hunter2\n`);
    assert.equal(await watcher.reload("test"), false);
    assert.equal(await watcher.reload("test"), false);
    assert.equal(watcher.policy(), good);
    assert.equal(watcher.status().lastReloadSuccessful, false);
    const failures = lines.filter((l) => l.includes("web config reload failed"));
    assert.equal(failures.length, 1, lines.join("\n"));
    assert.match(failures[0], /basic_auth_users\.prometheus: not a bcrypt hash/);

    await write(`basic_auth_users:\n  ${PROMETHEUS}\n  ${GRAFANA}\n`);
    assert.equal(await watcher.reload("test"), true);
    assert.equal(watcher.status().lastReloadSuccessful, true);
    assert.equal(await watcher.policy().auth!.check(AS_PROMETHEUS), true);
  }));

Deno.test("a rotated certificate is handed to onTlsChange; a user change alone is not", () =>
  withDir(async ({ dir, write, open, tlsChanges }) => {
    await write(`tls_server_config: {cert_file: server.pem, key_file: server.key}\n`);
    const watcher = await open();
    await write(
      `tls_server_config: {cert_file: server.pem, key_file: server.key}\nbasic_auth_users:\n  ${PROMETHEUS}\n`,
    );
    assert.equal(await watcher.reload("test"), true);
    assert.equal(tlsChanges.length, 0);
    await Deno.copyFile(`${dir}/server2.pem`, `${dir}/server.pem`);
    await Deno.copyFile(`${dir}/server2.key`, `${dir}/server.key`);
    assert.equal(await watcher.reload("test"), true);
    assert.equal(tlsChanges.length, 1);
    assert.equal(tlsChanges[0]?.cert, await Deno.readTextFile(`${dir}/server2.pem`));
    assert.equal(watcher.tls?.cert, tlsChanges[0]?.cert);
  }));

Deno.test("when the new certificate cannot be served, the old config stays and the reload fails", () =>
  withDir(async ({ write, open }) => {
    await write(`tls_server_config: {cert_file: server.pem, key_file: server.key}\n`);
    const watcher = await open({ failTls: true });
    const before = watcher.tls;
    await write(`tls_server_config: {cert_file: server2.pem, key_file: server2.key}\n`);
    assert.equal(await watcher.reload("test"), false);
    assert.equal(watcher.tls, before);
    assert.equal(watcher.status().lastReloadSuccessful, false);
  }));

Deno.test("polling notices a changed file without a signal", () =>
  withDir(async ({ write, open }) => {
    await write(`basic_auth_users:\n  ${PROMETHEUS}\n`);
    const watcher = await open({ pollMs: 20 });
    await write(`basic_auth_users:\n  ${GRAFANA}\n`);
    const deadline = Date.now() + 5000;
    while (!await watcher.policy().auth!.check(AS_GRAFANA)) {
      assert.ok(Date.now() < deadline, "the new user never took effect");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    watcher.close();
  }));

Deno.test("a change that would lower the protection is refused at run time and keeps the old config", () =>
  withDir(async ({ dir, write, open, lines, tlsChanges }) => {
    const secured =
      `tls_server_config: {cert_file: server.pem, key_file: server.key}\nbasic_auth_users:\n  ${PROMETHEUS}\n`;
    await write(secured);
    const watcher = await open();
    const good = watcher.policy();
    const tls = watcher.tls;
    for (
      const [yaml, why] of [
        ["", "the file is now empty"],
        ["# nothing but a comment\n", "the file is now empty"],
        [`basic_auth_users:\n  ${PROMETHEUS}\n`, "it would turn TLS off"],
        [
          `tls_server_config: {cert_file: server.pem, key_file: server.key}\n`,
          "it would remove every basic auth user",
        ],
      ]
    ) {
      await write(yaml);
      assert.equal(await watcher.reload("test"), false, yaml);
      assert.equal(watcher.policy(), good);
      assert.equal(watcher.tls, tls);
      assert.equal(watcher.status().lastReloadSuccessful, false);
      const refused = lines.filter((l) => l.includes("level=error") && l.includes(why));
      assert.equal(refused.length, 1, lines.join("\n"));
      assert.ok(
        refused[0].includes(
          `err="--web.config.file \\"${dir}/web.yml\\": ${why}; refused while running, the previous config keeps serving (restart the exporter to apply it)"`,
        ),
        refused[0],
      );
    }
    assert.deepEqual(tlsChanges, []);
    // Writing the old content back recovers without a restart.
    await write(secured);
    assert.equal(await watcher.reload("test"), true);
    assert.equal(watcher.status().lastReloadSuccessful, true);
  }));

Deno.test("a change that keeps TLS and some users is applied, and an empty file at start is accepted", () =>
  withDir(async ({ write, open }) => {
    await write("");
    const watcher = await open();
    assert.equal(watcher.policy().auth, undefined);
    await write(`basic_auth_users:\n  ${PROMETHEUS}\n  ${GRAFANA}\n`);
    assert.equal(await watcher.reload("test"), true);
    await write(`basic_auth_users:\n  ${GRAFANA}\n`);
    assert.equal(await watcher.reload("test"), true);
    assert.equal(await watcher.policy().auth!.check(AS_GRAFANA), true);
    assert.equal(await watcher.policy().auth!.check(AS_PROMETHEUS), false);
  }));
