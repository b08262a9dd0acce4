import assert from "node:assert/strict";
import { keepingLast } from "./keeping_last.ts";

Deno.test("keepingLast answers a repeated question from its last answer and a new one afresh", () => {
  const asked: string[] = [];
  const length = keepingLast((question) => {
    asked.push(question);
    return question.length;
  });
  assert.deepEqual(["ab", "ab", "abc", "ab", "ab", ""].map((q) => length(q)), [2, 2, 3, 2, 2, 0]);
  assert.deepEqual(asked, ["ab", "abc", "ab", ""]);
});

Deno.test("keepingLast keeps no answer for a question whose answer threw, and the one before stays", () => {
  let calls = 0;
  const fails = keepingLast((question) => {
    calls++;
    if (question === "bad") throw new Error("bad question");
    return question;
  });
  assert.equal(fails("good"), "good");
  assert.throws(() => fails("bad"), /bad question/);
  assert.throws(() => fails("bad"), /bad question/);
  assert.equal(fails("good"), "good");
  // good, bad, bad: the last "good" is the kept answer.
  assert.equal(calls, 3);
});
