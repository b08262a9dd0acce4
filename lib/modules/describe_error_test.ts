import assert from "node:assert/strict";
import { describeError, errorChain } from "./describe_error.ts";

Deno.test("errorChain tells the cause chain a fetch error hides", () => {
  const socket = new Error("tcp connect error: Connection refused (os error 111)");
  const request = new Error("error sending request for url (http://api/)", { cause: socket });
  assert.equal(
    errorChain(new TypeError("fetch failed", { cause: request })),
    "fetch failed: caused by: error sending request for url (http://api/): caused by: " +
      "tcp connect error: Connection refused (os error 111)",
  );
});

Deno.test("errorChain tells an AggregateError's errors and a non-Error cause", () => {
  const err = new AggregateError(
    [new Error("a down"), new Error("b down", { cause: "timeout" })],
    "all failed",
  );
  assert.equal(errorChain(err), "all failed [a down; b down: caused by: timeout]");
});

Deno.test("errorChain stops at a cause cycle and at a cause that repeats its parent", () => {
  const a = new Error("a");
  const b = new Error("b", { cause: a });
  (a as { cause?: unknown }).cause = b;
  assert.equal(errorChain(a), "a: caused by: b");
  assert.equal(errorChain(new Error("x failed: boom", { cause: new Error("boom") })), "x failed: boom");
});

Deno.test("errorChain bounds a deep chain and a large AggregateError", () => {
  let err: Error = new Error("e0");
  for (let i = 1; i <= 20; i++) err = new Error(`e${i}`, { cause: err });
  assert.equal(errorChain(err).split(": caused by: ").length, 6);
  const many = new AggregateError(Array.from({ length: 8 }, (_, i) => new Error(`e${i}`)), "many");
  assert.equal(errorChain(many), "many [e0; e1; e2; e3; e4; 3 more]");
});

Deno.test("describeError keeps only the first line of each message and finds the module's line", () => {
  const err = new Error("first\nsecond", { cause: new Error("\x1b[31mred\x1b[0m\nmore") });
  err.stack = "Error: first\n    at process (file:///m/x.ts?v=3:7:9)";
  assert.deepEqual(describeError(err, "file:///m/x.ts"), {
    message: "first: caused by: red",
    line: 7,
    column: 9,
  });
});

Deno.test("describeError hints --allow-import for a denied dynamic https import", async () => {
  const host = "example.invalid"; // built at run time, so that neither the type check nor lint resolves it
  const err = await import(`https://${host}/module.ts`).then(() => undefined, (e) => e);
  assert.equal(describeError(err).hint, "grant it with --allow-import in the exporter's permission flags");
});

Deno.test("describeError hints --allow-run for an execSync denied run permission, and not otherwise", async () => {
  const { execSync } = await import("node:child_process");
  let denied: unknown;
  try {
    execSync("true");
  } catch (err) {
    denied = err;
  }
  const granted = Deno.permissions.querySync({ name: "run" }).state === "granted";
  assert.equal(
    describeError(denied ?? new Error("Command failed: true")).hint,
    granted ? undefined : "grant it with --allow-run in the exporter's permission flags",
  );
  assert.equal(describeError(new Error("Command failed: true")).hint, undefined, "not from execSync");
});
