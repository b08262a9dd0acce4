import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "./duration.ts";

const USE_A_UNIT = "use a number and a unit, like 500ms, 10s, 1m or 1h30m";

Deno.test("parseDuration reads a bare 0 as zero milliseconds", () => {
  assert.equal(parseDuration("0"), 0);
});

Deno.test("parseDuration reads each unit in milliseconds", () => {
  const table: [string, number][] = [
    ["1ms", 1],
    ["1s", 1000],
    ["1m", 60_000],
    ["1h", 3_600_000],
    ["1d", 86_400_000],
    ["1w", 604_800_000],
    ["1y", 31_536_000_000],
  ];
  assert.deepEqual(table.map(([text]) => [text, parseDuration(text)]), table);
});

Deno.test("parseDuration reads 500ms as milliseconds, not minutes and seconds", () => {
  assert.equal(parseDuration("500ms"), 500);
});

Deno.test("parseDuration adds up a compound duration", () => {
  assert.equal(parseDuration("1h30m"), 5_400_000);
});

Deno.test("parseDuration accepts every unit once, largest first", () => {
  assert.equal(
    parseDuration("1y2w3d4h5m6s7ms", Infinity),
    31_536_000_000 + 2 * 604_800_000 + 3 * 86_400_000 + 4 * 3_600_000 + 5 * 60_000 + 6 * 1000 + 7,
  );
});

Deno.test("parseDuration accepts a unit with a zero count", () => {
  assert.equal(parseDuration("0s"), 0);
});

Deno.test("parseDuration accepts a minute followed by milliseconds", () => {
  assert.equal(parseDuration("1m500ms"), 60_500);
});

Deno.test("parseDuration accepts multi-digit counts", () => {
  assert.equal(parseDuration("90s"), 90_000);
});

Deno.test("parseDuration rejects units out of order, naming the input", () => {
  assert.throws(() => parseDuration("30m1h"), {
    message: `invalid duration "30m1h": units must go from largest to smallest`,
  });
});

Deno.test("parseDuration rejects a repeated unit, naming the input", () => {
  assert.throws(() => parseDuration("1s2s"), {
    message: `invalid duration "1s2s": units must go from largest to smallest`,
  });
});

Deno.test("parseDuration rejects seconds after milliseconds", () => {
  assert.throws(() => parseDuration("500ms1s"), {
    message: `invalid duration "500ms1s": units must go from largest to smallest`,
  });
});

Deno.test("parseDuration rejects bad syntax with a message naming the input", () => {
  const inputs = ["", "10", "s", "1.5s", "-1s", "+1s", "1S", "1 s", " 1s", "1s ", "1sec", "1x", "00", "1h30"];
  assert.deepEqual(
    inputs.map((text) => {
      try {
        return [text, parseDuration(text)];
      } catch (err) {
        return [text, (err as Error).message];
      }
    }),
    inputs.map((text) => [text, `invalid duration ${JSON.stringify(text)}: ${USE_A_UNIT}`]),
  );
});

Deno.test("parseDuration rejects a duration beyond a year, or beyond the given bound", () => {
  assert.throws(() => parseDuration("999999999y"), { message: `invalid duration "999999999y": at most 1y` });
  assert.throws(() => parseDuration("1y1ms"), { message: `invalid duration "1y1ms": at most 1y` });
  assert.equal(parseDuration("1y"), 365 * 24 * 3600_000);
  assert.equal(parseDuration("30d"), 30 * 24 * 3600_000);
  assert.throws(() => parseDuration("2m", 60_000), { message: `invalid duration "2m": at most 1m` });
});

Deno.test("formatDuration writes zero as 0s", () => {
  assert.equal(formatDuration(0), "0s");
});

Deno.test("formatDuration writes the shortest form, largest unit first", () => {
  const table: [number, string][] = [
    [1, "1ms"],
    [500, "500ms"],
    [1000, "1s"],
    [1500, "1s500ms"],
    [10_000, "10s"],
    [90_000, "1m30s"],
    [5_400_000, "1h30m"],
    [86_400_000, "1d"],
    [604_800_000, "1w"],
    [31_536_000_000, "1y"],
    [31_536_000_000 + 604_800_000 + 86_400_000 + 3_600_000 + 60_000 + 1000 + 1, "1y1w1d1h1m1s1ms"],
  ];
  assert.deepEqual(table.map(([ms]) => [ms, formatDuration(ms)]), table);
});

Deno.test("formatDuration output parses back to the same milliseconds", () => {
  const values = [0, 1, 999, 1000, 61_001, 5_400_000, 90_061_001, 31_536_000_000 * 3 + 7];
  assert.deepEqual(values.map((ms) => parseDuration(formatDuration(ms), Infinity)), values);
});
