import assert from "node:assert/strict";
import { emptySandbox } from "../modules/sandbox.ts";
import {
  allowFlags,
  checkCeiling,
  covers,
  defaultCeiling,
  deniedKinds,
  describePermissions,
} from "./ceiling.ts";

Deno.test("covers: a path under an allowed path, any port of an allowed host, exact names otherwise", () => {
  assert.equal(covers("read", ["/srv/data"], "/srv/data/x.json"), true);
  assert.equal(covers("read", ["/srv/data"], "/srv/database"), false);
  assert.equal(covers("read", ["/srv/data"], "/srv/data/../etc"), false);
  assert.equal(covers("net", ["api.internal"], "api.internal:443"), true);
  assert.equal(covers("net", ["api.internal:443"], "api.internal:80"), false);
  assert.equal(covers("run", ["/usr/bin/df"], "df"), false);
  assert.equal(covers("env", true, "ANYTHING"), true);
});

Deno.test("checkCeiling names every --modules.allow-* flag a sandbox needs beyond the ceiling", () => {
  const spec = emptySandbox();
  spec.permissions.sys = ["hostname"];
  spec.permissions.read = ["/etc/x"];
  checkCeiling(spec, { ...defaultCeiling(), sys: ["hostname"] });
  assert.throws(() => checkCeiling(spec, defaultCeiling()), {
    name: "SandboxError",
    message: "its sandbox asks for more than modules may have: start the exporter with " +
      "--modules.allow-sys=hostname (or the broader flag; for the binary, also give it to the compile task, " +
      "which bakes it in)",
  });
});

Deno.test("allowFlags, deniedKinds and describePermissions say the same permission set three ways", () => {
  const permissions = { ...defaultCeiling(), net: ["a:1", "b"], run: [] };
  assert.deepEqual(allowFlags(permissions), ["--allow-net=a:1,b", "--allow-read", "--allow-env"]);
  assert.deepEqual(deniedKinds(permissions), ["run", "write", "sys"]);
  assert.equal(describePermissions(permissions), "net=a:1,b read env");
  assert.equal(describePermissions({ ...permissions, read: [], env: [], net: [] }), "none");
});
