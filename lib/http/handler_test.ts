import assert from "node:assert/strict";
import type { Format } from "../exposition/format.ts";
import { createHandler, type HandlerDeps, pathOf, scrapeCapMs } from "./handler.ts";
import { Logger } from "../log.ts";

const BODY = new TextEncoder().encode("# HELP up Up.\n# TYPE up gauge\nup 1\n");
const PROMETHEUS_ACCEPT =
  "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75," +
  "text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const LANDING = "<!DOCTYPE html><title>dynamic_exporter</title>";

function setup(deps: Partial<HandlerDeps> = {}) {
  const scrapes: [Format, boolean, number | undefined][] = [];
  const lines: string[] = [];
  const handler = createHandler({
    telemetryPath: "/metrics",
    scrape: (format, gzip, capMs) => {
      scrapes.push([format, gzip, capMs]);
      return Promise.resolve([BODY]);
    },
    landingPage: () => LANDING,
    modulePage: () => Promise.resolve(undefined),
    ready: () => true,
    log: new Logger({ write: (line) => lines.push(line), now: () => new Date(0) }),
    ...deps,
  });
  return { handler, scrapes, lines };
}

function get(path: string, headers: HeadersInit = {}, method = "GET"): Request {
  return new Request(`http://x${path}`, { method, headers });
}

async function whole(response: Response) {
  return {
    status: response.status,
    headers: Object.fromEntries(response.headers),
    body: await response.text(),
  };
}

const TEXT_HEADERS = {
  "content-type": "text/plain; version=0.0.4; charset=utf-8",
};

Deno.test("handler serves the exposition as text format 0.0.4 by default", async () => {
  const { handler, scrapes } = setup();

  const response = await whole(await handler(get("/metrics")));

  assert.deepEqual(response, {
    status: 200,
    headers: TEXT_HEADERS,
    body: "# HELP up Up.\n# TYPE up gauge\nup 1\n",
  });
  assert.deepEqual(scrapes, [["text", false, undefined]]);
});

Deno.test("handler serves OpenMetrics for the Accept header Prometheus sends", async () => {
  const { handler, scrapes } = setup();

  const response = await whole(await handler(get("/metrics", { accept: PROMETHEUS_ACCEPT })));

  assert.deepEqual(response, {
    status: 200,
    headers: {
      "content-type": "application/openmetrics-text; version=1.0.0; charset=utf-8",
    },
    body: "# HELP up Up.\n# TYPE up gauge\nup 1\n",
  });
  assert.deepEqual(scrapes, [["openmetrics", false, undefined]]);
});

Deno.test("handler asks for gzip and labels the body gzip when Accept-Encoding allows it", async () => {
  const gzipped = new Uint8Array([0x1f, 0x8b, 8, 0]);
  const scrapes: [Format, boolean, number | undefined][] = [];
  const { handler } = setup({
    scrape: (format, gzip, capMs) => {
      scrapes.push([format, gzip, capMs]);
      return Promise.resolve([gzipped]);
    },
  });

  const response = await handler(get("/metrics", { "accept-encoding": "gzip" }));

  assert.equal(response.status, 200);
  assert.deepEqual(Object.fromEntries(response.headers), { ...TEXT_HEADERS, "content-encoding": "gzip" });
  assert.deepEqual(await response.bytes(), gzipped);
  assert.deepEqual(scrapes, [["text", true, undefined]]);
});

Deno.test("handler caps the scrape wait at the Prometheus scrape timeout minus 500ms", async () => {
  const { handler, scrapes } = setup();

  const response = await handler(get("/metrics", { "x-prometheus-scrape-timeout-seconds": "10" }));
  await response.body?.cancel();

  assert.equal(response.status, 200);
  assert.deepEqual(scrapes, [["text", false, 9500]]);
});

Deno.test("handler passes no scrape cap for a garbage scrape timeout header", async () => {
  const { handler, scrapes } = setup();

  const response = await handler(get("/metrics", { "x-prometheus-scrape-timeout-seconds": "ten" }));
  await response.body?.cancel();

  assert.equal(response.status, 200);
  assert.deepEqual(scrapes, [["text", false, undefined]]);
});

Deno.test("scrapeCapMs keeps 500ms margin, at most half the timeout, and ignores garbage and absurd values", () => {
  const cases: [string | null, number | undefined][] = [
    [null, undefined],
    ["10", 9500],
    ["9.5", 9000],
    ["1", 500],
    ["0.5", 250],
    ["0.2", 100],
    ["0", undefined],
    ["-3", undefined],
    ["", undefined],
    ["ten", undefined],
    ["NaN", undefined],
    ["Infinity", undefined],
    ["1e308", undefined],
    ["-1e308", undefined],
    ["86401", undefined],
    ["86400", 86_399_500],
  ];

  assert.deepEqual(cases.map(([header]) => [header, scrapeCapMs(header)]), cases);
});

Deno.test("handler answers HEAD on the telemetry path with the GET's response, body included (Deno.serve sends none)", async () => {
  const { handler } = setup();

  const response = await handler(get("/metrics", { accept: PROMETHEUS_ACCEPT }, "HEAD"));

  assert.deepEqual(await whole(response), {
    status: 200,
    headers: {
      "content-type": "application/openmetrics-text; version=1.0.0; charset=utf-8",
    },
    body: "# HELP up Up.\n# TYPE up gauge\nup 1\n",
  });
});

Deno.test("handler serves the landing page as HTML at /", async () => {
  const { handler, scrapes } = setup();

  const response = await whole(await handler(get("/")));

  assert.deepEqual(response, {
    status: 200,
    headers: { "content-type": "text/html; charset=utf-8" },
    body: LANDING,
  });
  assert.deepEqual(scrapes, []);
});

Deno.test("handler answers /-/healthy with 200", async () => {
  const { handler } = setup({ ready: () => false });

  const response = await whole(await handler(get("/-/healthy")));

  assert.deepEqual(response, {
    status: 200,
    headers: { "content-type": "text/plain; charset=utf-8" },
    body: "Healthy.\n",
  });
});

Deno.test("handler answers /-/ready with 503 until ready() turns true, then 200", async () => {
  let ready = false;
  const { handler } = setup({ ready: () => ready });

  const before = await whole(await handler(get("/-/ready")));
  ready = true;
  const after = await whole(await handler(get("/-/ready")));

  assert.deepEqual(before, {
    status: 503,
    headers: { "content-type": "text/plain; charset=utf-8" },
    body: "Not ready: the metrics dir is still loading.\n",
  });
  assert.deepEqual(after, {
    status: 200,
    headers: { "content-type": "text/plain; charset=utf-8" },
    body: "Ready.\n",
  });
});

Deno.test("handler answers an unknown path with 404", async () => {
  const { handler } = setup();

  const response = await whole(await handler(get("/nope")));

  assert.deepEqual(response, {
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8" },
    body: "Not found: /nope\n",
  });
});

Deno.test("handler answers POST on the telemetry path with 405 and Allow: GET, HEAD, without scraping", async () => {
  const { handler, scrapes } = setup();

  const response = await whole(await handler(get("/metrics", {}, "POST")));

  assert.deepEqual(response, {
    status: 405,
    headers: { "content-type": "text/plain; charset=utf-8", allow: "GET, HEAD" },
    body: "Method POST not allowed on /metrics\n",
  });
  assert.deepEqual(scrapes, []);
});

Deno.test("handler answers 405 for methods other than GET and HEAD on every fixed path", async () => {
  const { handler } = setup();

  const statuses: [string, string, number, string | null][] = [];
  for (const path of ["/", "/-/healthy", "/-/ready"]) {
    for (const method of ["POST", "PUT", "DELETE"]) {
      const response = await handler(get(path, {}, method));
      await response.body?.cancel();
      statuses.push([method, path, response.status, response.headers.get("allow")]);
    }
  }

  assert.deepEqual(
    statuses,
    ["/", "/-/healthy", "/-/ready"].flatMap((path) =>
      ["POST", "PUT", "DELETE"].map((method) => [method, path, 405, "GET, HEAD"])
    ),
  );
});

Deno.test("handler turns a scrape() that throws or rejects into a logged 500", async () => {
  const cases: [string, () => Promise<Uint8Array<ArrayBuffer>[]>, string][] = [
    ["throws", () => {
      throw new Error("boom");
    }, "err=boom"],
    ["rejects", () => Promise.reject(new Error("render failed")), 'err="render failed"'],
  ];
  for (const [name, scrape, err] of cases) {
    const { handler, lines } = setup({ scrape });

    const response = await whole(await handler(get("/metrics")));

    assert.deepEqual(response, {
      status: 500,
      headers: { "content-type": "text/plain; charset=utf-8" },
      body: "Internal error; see the exporter's log.\n",
    }, name);
    assert.deepEqual(lines, [
      `ts=1970-01-01T00:00:00.000Z level=error msg="request failed" path=/metrics ${err}`,
    ], name);
  }
});

Deno.test("handler serves a custom telemetry path and 404s /metrics", async () => {
  const { handler, scrapes } = setup({ telemetryPath: "/custom" });

  const custom = await whole(await handler(get("/custom")));
  const metrics = await whole(await handler(get("/metrics")));

  assert.deepEqual(custom, {
    status: 200,
    headers: TEXT_HEADERS,
    body: "# HELP up Up.\n# TYPE up gauge\nup 1\n",
  });
  assert.deepEqual(metrics, {
    status: 404,
    headers: { "content-type": "text/plain; charset=utf-8" },
    body: "Not found: /metrics\n",
  });
  assert.deepEqual(scrapes, [["text", false, undefined]]);
});

Deno.test("handler refuses POST /-/reload with 403 when the lifecycle API is off", async () => {
  const { handler } = setup();
  assert.deepEqual(await whole(await handler(get("/-/reload", {}, "POST"))), {
    status: 403,
    headers: { "content-type": "text/plain; charset=utf-8" },
    body: "Lifecycle API is not enabled; start with --web.enable-lifecycle.\n",
  });
});

Deno.test("handler reloads on POST /-/reload when enabled, and answers 405 to GET", async () => {
  let reloads = 0;
  const { handler } = setup({ reload: () => Promise.resolve(void reloads++) });
  assert.deepEqual(await whole(await handler(get("/-/reload", {}, "POST"))), {
    status: 200,
    headers: { "content-type": "text/plain; charset=utf-8" },
    body: "Reloaded.\n",
  });
  assert.equal(reloads, 1);
  assert.deepEqual(await whole(await handler(get("/-/reload"))), {
    status: 405,
    headers: { "content-type": "text/plain; charset=utf-8", allow: "POST" },
    body: "Method GET not allowed on /-/reload\n",
  });
  assert.equal(reloads, 1);
});

const PLAIN = { "content-type": "text/plain; charset=utf-8" };

Deno.test("handler refuses POST /-/run with 403 when the lifecycle API is off", async () => {
  const { handler } = setup();
  assert.deepEqual(await whole(await handler(get("/-/run?module=disk", {}, "POST"))), {
    status: 403,
    headers: PLAIN,
    body: "Lifecycle API is not enabled; start with --web.enable-lifecycle.\n",
  });
});

Deno.test("handler runs the module POST /-/run names and answers its report", async () => {
  const asked: string[] = [];
  const { handler } = setup({
    runModule: (name) => {
      asked.push(name);
      return Promise.resolve({ report: `report of ${name}\n` });
    },
  });
  assert.deepEqual(await whole(await handler(get("/-/run?module=disk", {}, "POST"))), {
    status: 200,
    headers: PLAIN,
    body: "report of disk\n",
  });
  assert.deepEqual(await whole(await handler(get("/-/run?module=disk"))), {
    status: 405,
    headers: { ...PLAIN, allow: "POST" },
    body: "Method GET not allowed on /-/run\n",
  });
  assert.deepEqual(asked, ["disk"]);
});

Deno.test("handler answers POST /-/run with 400 without a module, 404 unknown, 409 running or stuck", async () => {
  const refusals = { nope: "unknown", busy: "running", wedged: "stuck" } as const;
  const { handler } = setup({
    runModule: (name) => Promise.resolve({ refused: refusals[name as keyof typeof refusals] }),
  });
  const answer = async (query: string) => {
    const { status, body } = await whole(await handler(get(`/-/run${query}`, {}, "POST")));
    return `${status} ${body}`;
  };
  assert.deepEqual(await Promise.all(["", "?module=nope", "?module=busy", "?module=wedged"].map(answer)), [
    "400 Give the module to run: POST /-/run?module=<name>\n",
    '404 No module "nope" is loaded and scheduled.\n',
    '409 Module "busy" is running now; try again when its run has ended.\n',
    '409 Module "wedged" is stuck: calls abandoned at their timeout are still running.\n',
  ]);
});

Deno.test("handler answers a scrape whose body is ready with a Response at once, not a promise, HEAD too", async () => {
  const { handler } = setup({ scrape: () => [BODY] });
  const response = handler(get("/metrics"));
  assert.ok(response instanceof Response);
  assert.deepEqual(await whole(response), {
    status: 200,
    headers: TEXT_HEADERS,
    body: new TextDecoder().decode(BODY),
  });
  const head = handler(get("/metrics", {}, "HEAD"));
  assert.ok(head instanceof Response);
  assert.deepEqual(await whole(head), {
    status: 200,
    headers: TEXT_HEADERS,
    body: new TextDecoder().decode(BODY),
  });
  // A body still to build is a promise, as before.
  const { handler: waiting } = setup();
  assert.ok(waiting(get("/metrics")) instanceof Promise);
});

Deno.test("handler turns a scrape() that throws at once into a logged 500", async () => {
  const { handler, lines } = setup({
    scrape: () => {
      throw new Error("boom");
    },
  });
  const response = await handler(get("/metrics"));
  assert.equal(response.status, 500);
  assert.match(lines.join("\n"), /request failed.*boom/);
});

Deno.test("pathOf gives what URL's pathname gives, cutting plain paths out of the string", () => {
  for (
    const url of [
      "http://x/metrics",
      "http://x:9100/metrics?x=1&y=/a",
      "http://x/",
      "http://x/-/healthy",
      "http://[::1]:8000/metrics/",
      "http://x/a/../metrics",
      "http://x/./metrics",
      "http://x/%6Detrics",
      "http://x//metrics",
      "http://x/metrics#frag",
      "http://x/m%20x?y",
      "http://x/metrics.txt",
      "http://x/über",
    ]
  ) {
    // Twice each, and each after another URL: pathOf keeps its last answer.
    assert.equal(pathOf(url), new URL(url).pathname, url);
    assert.equal(pathOf(url), new URL(url).pathname, url);
  }
});

Deno.test("handler answers a plain scrape with Content-Type alone, as promhttp does (Deno.serve's fast path)", async () => {
  const { handler } = setup({ scrape: () => [BODY] });
  const response = await handler(get("/metrics"));
  assert.deepEqual([...response.headers.keys()], ["content-type"]);
  await response.body?.cancel();
});

Deno.test("GET /?refresh=N asks the status page to refresh every N s; a bad value is a 400 naming it", async () => {
  const asked: (number | undefined)[] = [];
  const { handler } = setup({ landingPage: (refresh) => (asked.push(refresh), LANDING) });
  assert.equal((await handler(get("/?refresh=10"))).status, 200);
  assert.equal((await handler(get("/"))).status, 200);
  assert.deepEqual(asked, [10, undefined]);
  const bad = await handler(get("/?refresh=0.5"));
  assert.deepEqual([bad.status, await bad.text()], [
    400,
    `Bad refresh="0.5": give whole seconds, 1 to 9999.\n`,
  ]);
});

Deno.test("GET /module?name= answers that module's page as HTML", async () => {
  const asked: string[] = [];
  const { handler } = setup({
    modulePage: (name) => (asked.push(name), Promise.resolve(name === "disk" ? "<p>disk</p>" : undefined)),
  });
  assert.deepEqual(await whole(await handler(get("/module?name=disk"))), {
    status: 200,
    headers: { "content-type": "text/html; charset=utf-8" },
    body: "<p>disk</p>",
  });
  assert.deepEqual(asked, ["disk"]);
});

Deno.test("GET /module answers 404 naming an unknown module, 400 without a name, 405 to a POST", async () => {
  const { handler } = setup();
  const answer = async (request: Request) => {
    const { status, body } = await whole(await handler(request));
    return [status, body];
  };
  assert.deepEqual(await answer(get("/module?name=%3Cscript%3E")), [
    404,
    'No module "<script>" here; the status page at / lists every module.\n',
  ]);
  assert.deepEqual(await answer(get("/module")), [400, "Give the module: GET /module?name=<name>\n"]);
  assert.deepEqual(await answer(get("/module?name=")), [400, "Give the module: GET /module?name=<name>\n"]);
  assert.deepEqual(await answer(get("/module?name=disk", {}, "POST")), [
    405,
    "Method POST not allowed on /module\n",
  ]);
});
