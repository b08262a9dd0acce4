import assert from "node:assert/strict";
import { formatReport } from "./report.ts";

Deno.test("formatReport's TAP holds no control character a TAP consumer would stop at, in names or diagnostics", () => {
  const tap = formatReport([{
    module: "m",
    name: "s\u001b[31m run 1",
    ok: false,
    details: ["check failed: one\u0000two\r\nthree\rfour", "log info: \u001b[1mbold\u001b[0m\tend"],
    seconds: 0,
  }], "tap");
  assert.equal(
    tap,
    [
      "TAP version 13",
      "1..1",
      "not ok 1 - m: s\ufffd[31m run 1",
      "  ---",
      "  message: |",
      "    check failed: one\ufffdtwo",
      "    three",
      "    four",
      "    log info: \ufffd[1mbold\ufffd[0m\tend",
      "  ...",
      "",
    ].join("\n"),
  );
});
