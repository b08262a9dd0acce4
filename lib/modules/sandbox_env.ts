/**
 * `$NAME` and `${NAME}` in a sandbox entry (issue 18): `read: ["$BACKUP_STATUS_FILE"]` or
 * `read: ["${DATA_DIR}/status.json"]`, so that a path lives once, in the env file. Expanded from
 * the environment the module will see (after --env-file) when the module loads.
 */

import { PERMISSION_KINDS, SandboxError, type SandboxSpec } from "./sandbox.ts";

const REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g;

/**
 * `spec` with every reference replaced by its value in `env`. Throws SandboxError naming the
 * variable when one is unset or empty, or when its value holds a comma (it would add an entry
 * to the host's --allow-<kind> flag).
 */
export function expandSandbox(
  spec: SandboxSpec,
  env: { get(name: string): string | undefined },
): SandboxSpec {
  const permissions = { ...spec.permissions };
  for (const kind of PERMISSION_KINDS) {
    permissions[kind] = spec.permissions[kind].map((entry) =>
      entry.replace(REFERENCE, (_, braced: string | undefined, bare: string | undefined) => {
        const name = braced ?? bare!;
        const value = env.get(name);
        if (value === undefined || value === "") {
          throw new SandboxError(
            `"sandbox.${kind}" entry ${JSON.stringify(entry)} names $${name}, which is not set`,
          );
        }
        if (value.includes(",")) {
          throw new SandboxError(
            `"sandbox.${kind}" entry ${
              JSON.stringify(entry)
            }: the value of $${name} holds a comma; give one value per entry`,
          );
        }
        return value;
      })
    );
  }
  return { ...spec, permissions };
}
