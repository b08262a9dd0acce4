import assert from "node:assert/strict";
import {
  DEFAULT_PROBE_CONCURRENCY,
  probeShape,
  targetAllowed,
  validateProbeExports,
} from "./probe_exports.ts";

const settingsOf = (exports: Record<string, unknown>) => validateProbeExports(probeShape(exports));

Deno.test("a targets RegExp crosses as source and flags, and must match the whole target", () => {
  const shape = probeShape({ probe() {}, targets: /a+b/gi });
  assert.deepEqual(JSON.parse(JSON.stringify(shape.targets)), { regexp: { source: "a+b", flags: "gi" } });
  const rule = validateProbeExports(JSON.parse(JSON.stringify(shape)))!.targets;
  // g would make test() remember lastIndex between calls: the same target twice must pass twice.
  assert.deepEqual(["AAB", "AAB", "xab", "abx", "a|b"].map((t) => targetAllowed(rule, t)), [
    true,
    true,
    false,
    false,
    false,
  ]);
});

Deno.test("an alternation in targets is anchored as a whole, not only its first branch", () => {
  const rule = settingsOf({ probe() {}, targets: /a|b/ })!.targets;
  assert.deepEqual(["a", "b", "ab", "xb", "ax"].map((t) => targetAllowed(rule, t)), [
    true,
    true,
    false,
    false,
    false,
  ]);
});

Deno.test("a targets list takes exact strings only", () => {
  const rule = settingsOf({ probe() {}, targets: ["http://a.internal/", "b"] })!.targets;
  assert.deepEqual(
    ["http://a.internal/", "b", "http://a.internal/x", "B"].map((t) => targetAllowed(rule, t)),
    [true, true, false, false],
  );
});

Deno.test("probe settings default to no params and a concurrency of 16; no probe() means none", () => {
  assert.deepEqual(settingsOf({ probe() {}, validateTarget: () => true }), {
    targets: undefined,
    validateTarget: true,
    params: [],
    concurrency: DEFAULT_PROBE_CONCURRENCY,
  });
  assert.equal(settingsOf({ process() {} }), undefined);
});
