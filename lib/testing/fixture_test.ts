import assert from "node:assert/strict";
import { FixtureError, parseRunFixture } from "./fixture.ts";

Deno.test("parseRunFixture fills in what a hand-written fixture leaves out", () => {
  assert.deepEqual(
    parseRunFixture(
      `{"fetch": [{"url": "http://a/x", "response": {"status": 200}}], "commands": [{"command": "df"}], "clock": 5}`,
      "f.json",
    ),
    {
      clock: [5],
      monotonic: [],
      fetch: [{ method: "GET", url: "http://a/x", response: { status: 200 } }],
      commands: [{ command: "df", args: [], code: 0, stdout: "" }],
      files: {},
      env: {},
    },
  );
});

Deno.test("parseRunFixture names the file and the field of each mistake", () => {
  const cases: [string, string][] = [
    ["[]", "f.json: the file must hold an object"],
    ["{", "f.json: not JSON: "],
    [
      `{"fetches": []}`,
      `f.json: "fetches" is not a fixture field (probe, clock, monotonic, fetch, commands, files, env)`,
    ],
    [`{"fetch": {}}`, `f.json: "fetch" must be a list`],
    [
      `{"fetch": [{"url": "x", "response": {"status": 200}}]}`,
      `f.json: fetch[0].url is not an absolute URL: "x"`,
    ],
    [
      `{"fetch": [{"url": "http://a/"}]}`,
      `f.json: fetch[0] needs exactly one of "response", "error", "hang"`,
    ],
    [
      `{"fetch": [{"url": "http://a/", "response": {"status": 99}}]}`,
      "f.json: fetch[0].response.status must be an HTTP status from 200 to 599",
    ],
    [`{"commands": [{"command": "df", "args": "-h"}]}`, "f.json: commands[0].args must be a list of strings"],
    [
      `{"files": {"rel/x": {}}}`,
      `f.json: files["rel/x"] must be an absolute path, or ./<path> under the module's dir`,
    ],
    [
      `{"files": {"./../x": {}}}`,
      `f.json: files["./../x"] leaves the module's dir: name the file by its absolute path`,
    ],
    [`{"files": {"./a/../b": {}}}`, `f.json: files["./a/../b"] is never read by that name: write "./b"`],
    [`{"files": {"./a//b/": {}}}`, `f.json: files["./a//b/"] is never read by that name: write "./a/b"`],
    [`{"files": {"/etc//x": {}}}`, `f.json: files["/etc//x"] is never read by that name: write "/etc/x"`],
    [`{"env": {"A": 1}}`, "f.json: env.A must be a string or null"],
    [`{"clock": "now"}`, `f.json: "clock" must be ms since the epoch, or a list of them`],
    [`{"probe": {}}`, `f.json: "probe" needs "target"`],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseRunFixture(text, "f.json"), (err: Error) => {
      assert.ok(err instanceof FixtureError);
      assert.ok(err.message.startsWith(message), `${err.message} starts with ${message}`);
      return true;
    });
  }
});
