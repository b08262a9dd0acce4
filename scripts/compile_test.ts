import assert from "node:assert/strict";
import { withCeiling } from "./compile.ts";

Deno.test("the compile task bakes --modules.allow-* flags as the binary's permissions and as default arguments", () => {
  assert.deepEqual(
    withCeiling([
      "--allow-read",
      "--allow-run",
      "--output=dist/dynamic_exporter",
      "main.ts",
      "--modules.allow-sys=hostname",
      "--modules.allow-read=/etc",
      "--modules.allow-write",
    ]),
    [
      "--allow-read",
      "--allow-run",
      "--output=dist/dynamic_exporter",
      // read is held whole already; sys and write are added for the hosts.
      "--allow-sys=hostname",
      "--allow-write",
      "main.ts",
      "--modules.allow-sys=hostname",
      "--modules.allow-read=/etc",
      "--modules.allow-write",
    ],
  );
  assert.deepEqual(withCeiling(["--allow-read", "main.ts"]), ["--allow-read", "main.ts"]);
});
