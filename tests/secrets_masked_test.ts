/**
 * End to end: a module's error that quotes a credential, in each form errors quote one (issue
 * 18, defect 4). Neither the status page `/` nor the log shows the credential.
 */

import assert from "node:assert/strict";
import { withExporter } from "./_server.ts";

/** Module name -> the message its process() throws, and that message as `/` and the log show it. */
const FORMS: Record<string, [string, string]> = {
  json: [
    `POST /login: 401 {"password": "pw-json-1", "secret": "sec-json-2"}`,
    `POST /login: 401 {"password": "***", "secret": "***"}`,
  ],
  single_quoted: [`config {'password':'pw-single-3'} refused`, `config {'password':'***'} refused`],
  yaml: ["db.yml: password: pw-yaml-4 is wrong", "db.yml: password: *** is wrong"],
  basic: ["proxy auth=Basic dXNlcjpwYXNz rejected", "proxy auth=Basic *** rejected"],
  api_key: ["GET /v1 with x-api-key: key-header-5 gave 403", "GET /v1 with x-api-key: *** gave 403"],
  digest: [
    `Authorization: Digest username="bob", response="digest-6" (401)`,
    "Authorization: Digest *** (401)",
  ],
  env: ["GITHUB_TOKEN=ghp_token-7 db_password=pw-env-8", "GITHUB_TOKEN=*** db_password=***"],
};
const SECRETS = [
  "pw-json-1",
  "sec-json-2",
  "pw-single-3",
  "pw-yaml-4",
  "dXNlcjpwYXNz",
  "key-header-5",
  "digest-6",
  "ghp_token-7",
  "pw-env-8",
];

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

Deno.test("a module error quoting credentials in any form shows them masked on / and in the log", async () => {
  const files = Object.fromEntries(
    Object.entries(FORMS).map((
      [name, [message]],
    ) => [`${name}.ts`, `export function process() { throw new Error(${JSON.stringify(message)}); }\n`]),
  );
  await withExporter(files, async (e) => {
    for (const [name, [, masked]] of Object.entries(FORMS)) {
      const failure = await e.waitForLog((r) => r.msg === "module run failed" && r.module === name);
      assert.equal(failure.err, masked, name);
    }
    const page = await (await fetch(`${e.url}/`)).text();
    for (const [name, [, masked]] of Object.entries(FORMS)) {
      assert.ok(page.includes(escapeHtml(masked)), `${name}: the page shows ${masked}`);
    }
    const shown = [page, ...e.logs.map((r) => JSON.stringify(r)), ...e.output].join("\n");
    assert.deepEqual(SECRETS.filter((secret) => shown.includes(secret)), []);
  });
});
