import assert from "node:assert/strict";
import { defaultCeiling } from "../supervisor/ceiling.ts";
import { learningPermissions, PermissionAudit } from "./permission_audit.ts";

/** An audit line as Deno 2.9.6 writes it (measured). */
const line = (permission: string, value: string | null) =>
  JSON.stringify({ v: 1, datetime: "2026-01-01T00:00:00Z", permission, value });

Deno.test("PermissionAudit takes Deno's audit lines and leaves every other stderr line to the log", () => {
  const audit = new PermissionAudit();
  assert.deepEqual(
    [
      line("env", "HOME"),
      line("env", null),
      "Warning: something",
      `{"v":2,"permission":"env","value":"X"}`,
      `{"v":1,"permission":"env","value":3}`,
      "null",
    ].map((l) => audit.line(l)),
    [true, true, false, false, false, false],
  );
  assert.deepEqual(audit.records, [{ permission: "env", value: "HOME" }, { permission: "env", value: null }]);
});

Deno.test("PermissionAudit.used: net as host:port, paths absolute, names as they are, each once, in order seen", () => {
  const audit = new PermissionAudit();
  for (
    const [kind, value] of [
      ["net", "http://127.0.0.1:4000/metrics?x=1"],
      ["net", "https://api.internal/v1"],
      ["net", "http://[::1]/"],
      ["net", "db.internal:5432"],
      ["net", "http://127.0.0.1:4000/other"],
      ["read", "data/token.txt"],
      ["read", "/srv/app/state.json"],
      ["read", "file:///srv/app/other.json"],
      ["write", "/tmp/out.txt"],
      ["env", "API_TOKEN"],
      ["env", "API_TOKEN"],
      ["sys", "hostname"],
    ]
  ) audit.line(line(kind, value));
  assert.deepEqual(audit.used("/work", []), {
    permissions: {
      net: ["127.0.0.1:4000", "api.internal:443", "[::1]:80", "db.internal:5432"],
      read: ["/work/data/token.txt", "/srv/app/state.json", "/srv/app/other.json"],
      env: ["API_TOKEN"],
      run: [],
      write: ["/tmp/out.txt"],
      sys: ["hostname"],
    },
    all: [],
    other: [],
  });
});

Deno.test("PermissionAudit.used leaves out what the host reads anyway, and names a whole kind and an undeclarable one", () => {
  const audit = new PermissionAudit();
  for (
    const [kind, value] of [
      ["read", "/m/foo.ts"],
      ["read", "foo.ts"],
      ["read", "/m/_helper.ts"],
      ["env", null],
      ["env", "HOME"],
      ["import", "https://deno.land/x/mod.ts"],
    ] as const
  ) audit.line(line(kind, value));
  assert.deepEqual(audit.used("/m", ["foo.ts", "/m/_helper.ts"]), {
    permissions: { net: [], read: [], env: ["HOME"], run: [], write: [], sys: [] },
    all: ["env"],
    other: ["import https://deno.land/x/mod.ts"],
  });
});

Deno.test("PermissionAudit learns a command from the run denial that names it: Deno never audits run", () => {
  const audit = new PermissionAudit();
  audit.text(`process() failed: Requires run access to "df", run again with the --allow-run flag`);
  audit.logged("could not list", {
    err: `Requires run access to "/usr/bin/ls", run again with the --allow-run flag`,
  });
  audit.text(`Requires read access to "/etc/hostname"`);
  audit.text(`Requires run access to "df", run again with the --allow-run flag`);
  assert.deepEqual(audit.deniedRuns, ["df", "/usr/bin/ls"]);
  assert.deepEqual(audit.used("/", []).permissions.run, ["df", "/usr/bin/ls"]);
});

Deno.test("learningPermissions: a whole read or write grant as /, so each open is audited as what it is; run as learned", () => {
  assert.deepEqual(learningPermissions(defaultCeiling(), []), {
    read: ["/"],
    net: true,
    env: true,
    run: [],
    write: [],
    sys: [],
  });
  assert.deepEqual(
    learningPermissions({
      read: ["/srv"],
      net: ["a:1"],
      env: ["X"],
      run: true,
      write: true,
      sys: ["hostname"],
    }, ["df"]),
    { read: ["/srv"], net: ["a:1"], env: ["X"], run: ["df"], write: ["/"], sys: ["hostname"] },
  );
});
