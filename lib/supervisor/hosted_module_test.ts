import assert from "node:assert/strict";
import { defaultCeiling } from "./ceiling.ts";
import { permissionHint } from "./hosted_module.ts";

const DENIED = `Requires read access to "/etc/hostname"`;

Deno.test("permissionHint says what to do, once: the sandbox entry, the ceiling flag, or both", () => {
  const ceiling = defaultCeiling();
  assert.equal(
    permissionHint(DENIED, "sandboxed", ceiling),
    `declare it in the module's sandbox export: read: ["/etc/hostname"] (within what --modules.allow-read grants modules)`,
  );
  assert.equal(
    permissionHint(DENIED, "sandboxed", { ...ceiling, read: ["/srv"] }),
    `declare it in the module's sandbox export: read: ["/etc/hostname"], and start the exporter with ` +
      `--modules.allow-read=/etc/hostname (or the broader flag)`,
  );
  assert.equal(
    permissionHint(`Requires run access to "df"`, "shared", ceiling),
    "modules may not have it: start the exporter with --modules.allow-run=df (or the broader flag)",
  );
  assert.equal(permissionHint("Something else", "shared", ceiling), undefined);
});
