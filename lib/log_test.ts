import assert from "node:assert/strict";
import { Logger, type LoggerOptions } from "./log.ts";

const NOW = new Date("2024-05-06T07:08:09.123Z");
const TS = "2024-05-06T07:08:09.123Z";

/** A logger whose lines land in the returned array, at a fixed time. */
function capture(options: LoggerOptions = {}): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const log = new Logger({ now: () => NOW, write: (line) => lines.push(line), ...options });
  return { log, lines };
}

// logfmt

Deno.test("Logger writes logfmt by default: ts, level, msg, then fields in order", () => {
  const { log, lines } = capture();
  log.info("module loaded", { module: "foo", count: 3 });
  assert.deepEqual(lines, [`ts=${TS} level=info msg="module loaded" module=foo count=3`]);
});

Deno.test("Logger leaves a logfmt value without spaces, quotes or = unquoted", () => {
  const { log, lines } = capture();
  log.info("started", { path: "/srv/metrics/foo.ts", addr: "[::1]:9100" });
  assert.deepEqual(lines, [`ts=${TS} level=info msg=started path=/srv/metrics/foo.ts addr=[::1]:9100`]);
});

Deno.test("Logger quotes a logfmt value containing a space", () => {
  const { log, lines } = capture();
  log.info("x", { err: "no such file" });
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x err="no such file"`]);
});

Deno.test("Logger quotes and escapes a logfmt value containing a double quote", () => {
  const { log, lines } = capture();
  log.info("x", { name: 'say"hi"' });
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x name="say\\"hi\\""`]);
});

Deno.test("Logger quotes a logfmt value containing =", () => {
  const { log, lines } = capture();
  log.info("x", { query: "a=b" });
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x query="a=b"`]);
});

Deno.test("Logger quotes and escapes a logfmt value containing a backslash", () => {
  const { log, lines } = capture();
  log.info("x", { path: "C:\\metrics" });
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x path="C:\\\\metrics"`]);
});

Deno.test("Logger keeps a logfmt value with a newline on one line", () => {
  const { log, lines } = capture();
  log.info("x", { stack: "line one\nline two" });
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x stack="line one\\nline two"`]);
});

Deno.test("Logger writes an empty logfmt string as a pair of quotes", () => {
  const { log, lines } = capture();
  log.info("x", { module: "" });
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x module=""`]);
});

Deno.test("Logger writes an Error field in logfmt as its quoted message", () => {
  const { log, lines } = capture();
  log.error("module run failed", { err: new Error("process() timed out") });
  assert.deepEqual(lines, [`ts=${TS} level=error msg="module run failed" err="process() timed out"`]);
});

Deno.test("Logger writes numbers, booleans and null in logfmt as their literals", () => {
  const { log, lines } = capture();
  log.info("x", { duration_seconds: 0.25, port: 8000, negative: -1, ok: true, up: false, none: null });
  assert.deepEqual(lines, [
    `ts=${TS} level=info msg=x duration_seconds=0.25 port=8000 negative=-1 ok=true up=false none=null`,
  ]);
});

Deno.test("Logger writes a bigint field in logfmt as its digits", () => {
  const { log, lines } = capture();
  log.info("x", { bytes: 12345678901234567890n });
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x bytes=12345678901234567890`]);
});

Deno.test("Logger writes a Date field in logfmt as ISO time", () => {
  const { log, lines } = capture();
  log.info("x", { last_run: new Date("2024-01-02T03:04:05.000Z") });
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x last_run=2024-01-02T03:04:05.000Z`]);
});

Deno.test("Logger writes an object field in logfmt as quoted JSON", () => {
  const { log, lines } = capture();
  log.info("x", { labels: { a: 1 } });
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x labels="{\\"a\\":1}"`]);
});

Deno.test("Logger drops undefined fields in logfmt", () => {
  const { log, lines } = capture();
  log.info("x", { a: undefined, b: 1, c: undefined });
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x b=1`]);
});

// JSON

Deno.test("Logger writes one JSON object per line in json format", () => {
  const { log, lines } = capture({ format: "json" });
  log.warn("module load failed", { module: "foo", line: 3, ok: false });
  assert.deepEqual(lines, [
    `{"ts":"${TS}","level":"warn","msg":"module load failed","module":"foo","line":3,"ok":false}`,
  ]);
});

Deno.test("Logger writes an Error field in json as its message", () => {
  const { log, lines } = capture({ format: "json" });
  log.error("x", { err: new Error('bad "quote"') });
  assert.deepEqual(lines, [`{"ts":"${TS}","level":"error","msg":"x","err":"bad \\"quote\\""}`]);
});

Deno.test("Logger drops undefined fields in json", () => {
  const { log, lines } = capture({ format: "json" });
  log.info("x", { a: undefined, b: "" });
  assert.deepEqual(lines, [`{"ts":"${TS}","level":"info","msg":"x","b":""}`]);
});

Deno.test("Logger writes a bigint field in json as a string of its digits", () => {
  const { log, lines } = capture({ format: "json" });
  log.info("x", { bytes: 12345678901234567890n });
  assert.deepEqual(lines, [`{"ts":"${TS}","level":"info","msg":"x","bytes":"12345678901234567890"}`]);
});

// Secrets

Deno.test("Logger masks credentials in an Error field, a string field and nested values, in logfmt", () => {
  const { log, lines } = capture();
  log.error("module run failed", {
    err: new Error("connect postgres://app:s3cret@db/x failed"),
    url: "https://api.internal/v1?token=abc&page=2",
    request: { headers: { authorization: "Bearer xyz" } },
  });
  assert.deepEqual(lines, [
    `ts=${TS} level=error msg="module run failed" err="connect postgres://app:***@db/x failed" ` +
    `url="https://api.internal/v1?token=***&page=2" request="{\\"headers\\":{\\"authorization\\":\\"Bearer ***\\"}}"`,
  ]);
});

Deno.test("Logger masks credentials in an err string field in json", () => {
  const { log, lines } = capture({ format: "json" });
  log.warn("module load failed", { err: 'fetch "http://u:p@h/?password=x y" failed' });
  assert.deepEqual(lines, [
    `{"ts":"${TS}","level":"warn","msg":"module load failed","err":"fetch \\"http://u:***@h/?password=*** y\\" failed"}`,
  ]);
});

Deno.test("Logger masks the value of a field named like a credential, at any depth", () => {
  const { log, lines } = capture({ format: "json" });
  log.info("calling the API", {
    api_key: "k1",
    pin: 1234,
    token: 5678,
    request: { headers: { Authorization: "Basic dXNlcjpwYXNz", "x-api-key": "k2" }, author: "Jane" },
    tokens_total: 5,
  });
  assert.deepEqual(lines, [
    `{"ts":"${TS}","level":"info","msg":"calling the API","api_key":"***","pin":1234,"token":"***",` +
    `"request":{"headers":{"Authorization":"Basic ***","x-api-key":"***"},"author":"Jane"},"tokens_total":5}`,
  ]);
});

// Levels

Deno.test("Logger at the default level drops debug and writes info, warn and error", () => {
  const { log, lines } = capture();
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(lines, [
    `ts=${TS} level=info msg=i`,
    `ts=${TS} level=warn msg=w`,
    `ts=${TS} level=error msg=e`,
  ]);
});

Deno.test("Logger at level debug writes every level", () => {
  const { log, lines } = capture({ level: "debug" });
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(lines, [
    `ts=${TS} level=debug msg=d`,
    `ts=${TS} level=info msg=i`,
    `ts=${TS} level=warn msg=w`,
    `ts=${TS} level=error msg=e`,
  ]);
});

Deno.test("Logger at level warn writes only warn and error", () => {
  const { log, lines } = capture({ level: "warn" });
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(lines, [`ts=${TS} level=warn msg=w`, `ts=${TS} level=error msg=e`]);
});

Deno.test("Logger at level error writes only error", () => {
  const { log, lines } = capture({ level: "error" });
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(lines, [`ts=${TS} level=error msg=e`]);
});

Deno.test("Logger reads the clock for each line", () => {
  const times = [new Date("2024-01-01T00:00:00.000Z"), new Date("2024-01-01T00:00:01.500Z")];
  const lines: string[] = [];
  const log = new Logger({ now: () => times.shift()!, write: (line) => lines.push(line) });
  log.info("a");
  log.info("b");
  assert.deepEqual(lines, [
    "ts=2024-01-01T00:00:00.000Z level=info msg=a",
    "ts=2024-01-01T00:00:01.500Z level=info msg=b",
  ]);
});

Deno.test("Logger survives a write that throws and keeps logging", () => {
  const lines: string[] = [];
  let calls = 0;
  const log = new Logger({
    now: () => NOW,
    write: (line) => {
      calls++;
      if (calls === 1) throw new Error("stderr closed");
      lines.push(line);
    },
  });
  log.info("lost");
  log.info("kept");
  assert.deepEqual({ calls, lines }, { calls: 2, lines: [`ts=${TS} level=info msg=kept`] });
});

// child()

Deno.test("Logger child adds its fields to every line after the message", () => {
  const { log, lines } = capture();
  log.child({ module: "foo" }).info("module loaded", { duration_seconds: 0.5 });
  assert.deepEqual(lines, [`ts=${TS} level=info msg="module loaded" module=foo duration_seconds=0.5`]);
});

Deno.test("Logger child leaves the parent's lines without the child's fields", () => {
  const { log, lines } = capture();
  log.child({ module: "foo" });
  log.info("x");
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x`]);
});

Deno.test("Logger child of a child merges both sets of fields", () => {
  const { log, lines } = capture();
  log.child({ component: "exporter" }).child({ module: "foo" }).info("x");
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x component=exporter module=foo`]);
});

Deno.test("Logger child fields are overridden by a nested child's fields", () => {
  const { log, lines } = capture();
  log.child({ module: "foo", a: 1 }).child({ module: "bar" }).info("x");
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x module=bar a=1`]);
});

Deno.test("Logger child fields win over the call's fields, so a module cannot log as another", () => {
  const { log, lines } = capture();
  log.child({ module: "foo" }).info("x", { module: "bar", other: 1 });
  assert.deepEqual(lines, [`ts=${TS} level=info msg=x module=foo other=1`]);
});

Deno.test("Logger child keeps the parent's level", () => {
  const { log, lines } = capture({ level: "warn" });
  const child = log.child({ module: "foo" });
  child.info("i");
  child.warn("w");
  assert.deepEqual(lines, [`ts=${TS} level=warn msg=w module=foo`]);
});

Deno.test("Logger child keeps the parent's json format", () => {
  const { log, lines } = capture({ format: "json" });
  log.child({ module: "foo" }).info("x");
  assert.deepEqual(lines, [`{"ts":"${TS}","level":"info","msg":"x","module":"foo"}`]);
});

Deno.test("Logger keeps ts, level and msg when a field has the same name", () => {
  const lines: string[] = [];
  const log = new Logger({ write: (l) => lines.push(l), now: () => new Date(0) });
  log.warn("real", { msg: "fake", level: "debug", extra: 1 });
  assert.deepEqual(lines, ["ts=1970-01-01T00:00:00.000Z level=warn msg=real extra=1"]);
});
