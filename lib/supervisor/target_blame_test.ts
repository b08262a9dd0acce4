import assert from "node:assert/strict";
import { TARGET_DEATHS_TO_REFUSE, TargetBlame } from "./target_blame.ts";

function clocked(options: { refusalMs?: number; kept?: number } = {}) {
  const clock = { ms: 1000 };
  return { clock, blame: new TargetBlame({ now: () => clock.ms, ...options }) };
}

Deno.test("TargetBlame refuses a target at its third death in a row, for refusalMs, then tries it again", () => {
  const { clock, blame } = clocked({ refusalMs: 60_000 });
  assert.equal(TARGET_DEATHS_TO_REFUSE, 3);
  assert.equal(blame.blame("m", "bad", "first"), undefined);
  assert.equal(blame.blame("m", "bad", "second"), undefined);
  assert.equal(blame.refusal("m", "bad"), undefined);
  assert.deepEqual(blame.blame("m", "bad", "third"), { remainingMs: 60_000, reason: "third", deaths: 3 });
  assert.deepEqual(blame.refusal("m", "bad"), { remainingMs: 60_000, reason: "third", deaths: 3 });
  // The same target of another module, and another target of the same module, are not refused.
  assert.equal(blame.refusal("other", "bad"), undefined);
  assert.equal(blame.refusal("m", "good"), undefined);
  // A probe begun before the refusal that ends a host later changes nothing.
  assert.equal(blame.blame("m", "bad", "fourth"), undefined);
  clock.ms = 60_999;
  assert.deepEqual(blame.refusal("m", "bad"), { remainingMs: 1, reason: "third", deaths: 3 });
  clock.ms = 61_000;
  assert.equal(blame.refusal("m", "bad"), undefined);
  // Tried again from zero: two more deaths do not refuse it, the third does.
  assert.equal(blame.blame("m", "bad", "a"), undefined);
  assert.equal(blame.blame("m", "bad", "b"), undefined);
  assert.deepEqual(blame.blame("m", "bad", "c"), { remainingMs: 60_000, reason: "c", deaths: 3 });
});

Deno.test("TargetBlame starts a target afresh when one of its probes answers, but keeps a refusal", () => {
  const { blame } = clocked();
  blame.blame("m", "t", "one");
  blame.blame("m", "t", "two");
  blame.answered("m", "t");
  assert.equal(blame.blame("m", "t", "three"), undefined);
  assert.equal(blame.blame("m", "t", "four"), undefined);
  const refusal = blame.blame("m", "t", "five");
  assert.equal(refusal?.reason, "five");
  blame.answered("m", "t");
  assert.deepEqual(blame.refusal("m", "t"), refusal);
});

Deno.test("TargetBlame keeps at most `kept` targets, the least recently blamed out first", () => {
  const { blame } = clocked({ kept: 2 });
  for (const target of ["a", "b", "c"]) {
    blame.blame("m", target, "x");
    blame.blame("m", target, "x");
  }
  // "c" kept its two deaths: a third refuses it.
  assert.equal(blame.blame("m", "c", "x")?.deaths, 3);
  // "a" went when "c" came: its two deaths are forgotten, so a third does not refuse it.
  assert.equal(blame.blame("m", "a", "x"), undefined);
  assert.equal(blame.blame("m", "a", "x"), undefined);
  assert.equal(blame.blame("m", "a", "x")?.deaths, 3);
});
