import assert from "node:assert/strict";
import { acceptsGzip, negotiateFormat } from "./negotiate.ts";

Deno.test("negotiateFormat picks OpenMetrics for the Prometheus 2.x scrape header", () => {
  assert.equal(
    negotiateFormat(
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
    ),
    "openmetrics",
  );
});

Deno.test("negotiateFormat picks text for a browser header", () => {
  assert.equal(
    negotiateFormat(
      "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    ),
    "text",
  );
});

Deno.test("negotiateFormat picks text for text/plain", () => {
  assert.equal(negotiateFormat("text/plain"), "text");
});

Deno.test("negotiateFormat picks text when the header is absent or empty", () => {
  assert.deepEqual([negotiateFormat(null), negotiateFormat("")], [
    "text",
    "text",
  ]);
});

Deno.test("negotiateFormat picks OpenMetrics when it is the only type accepted", () => {
  assert.equal(
    negotiateFormat("application/openmetrics-text; version=1.0.0"),
    "openmetrics",
  );
});

Deno.test("negotiateFormat picks text when OpenMetrics ties with text/plain", () => {
  assert.equal(
    negotiateFormat("application/openmetrics-text;q=0.5,text/plain;q=0.5"),
    "text",
  );
});

Deno.test("negotiateFormat picks text when OpenMetrics ties with */*", () => {
  assert.equal(negotiateFormat("application/openmetrics-text,*/*"), "text");
});

Deno.test("negotiateFormat picks text when OpenMetrics ties with text/*", () => {
  assert.equal(
    negotiateFormat("text/*;q=0.3, application/openmetrics-text;q=0.3"),
    "text",
  );
});

Deno.test("negotiateFormat picks text when OpenMetrics has q=0", () => {
  assert.equal(negotiateFormat("application/openmetrics-text;q=0"), "text");
});

Deno.test("negotiateFormat picks OpenMetrics when text/plain is refused", () => {
  assert.equal(
    negotiateFormat("text/plain;q=0, application/openmetrics-text;q=0.1"),
    "openmetrics",
  );
});

Deno.test("negotiateFormat lets text/plain's own q override a higher */*", () => {
  assert.equal(
    negotiateFormat(
      "text/plain;q=0.2, */*;q=0.9, application/openmetrics-text;q=0.5",
    ),
    "openmetrics",
  );
});

Deno.test("negotiateFormat compares media types and the q parameter case-insensitively", () => {
  assert.equal(
    negotiateFormat(
      "Application/OpenMetrics-Text; Version=1.0.0; Q=0.9, TEXT/PLAIN; Q=0.4",
    ),
    "openmetrics",
  );
});

Deno.test("negotiateFormat ignores commas and semicolons inside quoted parameters", () => {
  assert.equal(
    negotiateFormat(
      'application/openmetrics-text;x="a,text/plain;q=1";q=0.9,text/plain;q=0.1',
    ),
    "openmetrics",
  );
});

Deno.test("negotiateFormat drops ranges with an invalid q instead of trusting them", () => {
  assert.deepEqual(
    [
      "application/openmetrics-text;q=2",
      "application/openmetrics-text;q=abc",
      "application/openmetrics-text;q=0.5000",
      "application/openmetrics-text;q=-1",
    ].map(negotiateFormat),
    ["text", "text", "text", "text"],
  );
});

Deno.test("negotiateFormat picks text for malformed headers", () => {
  assert.deepEqual(
    [
      ",,,;;;",
      "garbage",
      "application/",
      "/openmetrics-text",
      "application/openmetrics-text/extra",
      'application/openmetrics-text;q="1',
      "\u0000\uffff",
    ].map(negotiateFormat),
    ["text", "text", "text", "text", "text", "text", "text"],
  );
});

Deno.test("acceptsGzip accepts gzip and * with a positive q", () => {
  assert.deepEqual(
    [
      "gzip",
      "gzip, deflate, br",
      "br;q=1.0, GZIP;q=0.5",
      "*",
      "identity;q=1, *;q=0.1",
      "x-gzip",
    ].map(acceptsGzip),
    [true, true, true, true, true, true],
  );
});

Deno.test("acceptsGzip refuses gzip;q=0, identity, absent and malformed headers", () => {
  assert.deepEqual(
    [
      "gzip;q=0",
      "gzip;q=0.000",
      "identity",
      "",
      null,
      "gzip;q=abc",
      "deflate, br",
    ].map(acceptsGzip),
    [false, false, false, false, false, false, false],
  );
});

Deno.test("acceptsGzip lets an explicit gzip;q=0 override *", () => {
  assert.equal(acceptsGzip("gzip;q=0, *"), false);
});

Deno.test("negotiateFormat and acceptsGzip answer each header for itself, the same header twice in a row too", () => {
  const prometheus3 =
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,*/*;q=0.1";
  const headers = [
    prometheus3,
    prometheus3,
    "text/plain",
    "text/plain",
    null,
    prometheus3,
    "*/*",
    prometheus3,
  ];
  assert.deepEqual(headers.map(negotiateFormat), [
    "openmetrics",
    "openmetrics",
    "text",
    "text",
    "text",
    "openmetrics",
    "text",
    "openmetrics",
  ]);
  const encodings = ["gzip", "gzip", "identity", "identity", null, "gzip", "gzip;q=0", "gzip"];
  assert.deepEqual(encodings.map(acceptsGzip), [true, true, false, false, false, true, false, true]);
});
