/** The HTTP request handler: a plain function of Request, so tests need no network. */

import { CONTENT_TYPES, type Format } from "../exposition/format.ts";
import { acceptsGzip, negotiateFormat } from "../exposition/negotiate.ts";
import { keepingLast } from "../keeping_last.ts";
import type { Logger } from "../log.ts";
import { responseBody } from "./response_body.ts";

export interface HandlerDeps {
  telemetryPath: string;
  /**
   * The exposition body's parts, to send in order, after scrape-time modules ran for at most
   * `capMs`; at once when the body is built.
   */
  scrape(format: Format, gzip: boolean, capMs?: number): Bytes[] | Promise<Bytes[]>;
  /** The status page; `refreshSeconds` asks it to reload itself that often. */
  landingPage(refreshSeconds?: number): string;
  /** `GET /module?name=<name>`: that module's own page; undefined when no module has that name. */
  modulePage(name: string): Promise<string | undefined>;
  /** The first load of the metrics dir is done. */
  ready(): boolean;
  /** `GET /probe?module=<name>&target=<target>` (issue 20): a probe module's answer. */
  probe?(request: Request): Promise<Response>;
  /** Rescans and reloads every module (a burst shares reloads); present only with --web.enable-lifecycle. */
  reload?(): Promise<void>;
  /** Runs one module now (POST /-/run?module=); present only with --web.enable-lifecycle. */
  runModule?(name: string): Promise<RunNow>;
  log: Logger;
}

/** What POST /-/run did: the run's report (its log lines and exposition), or why no run started. */
export type RunNow = { report: string } | { refused: "unknown" | "running" | "stuck" | "stopped" };

type Bytes = Uint8Array<ArrayBuffer>;

const GET_HEAD = ["GET", "HEAD"];

function html(body: string): Response {
  return new Response(body, { headers: { "content-type": "text/html; charset=utf-8" } });
}

function text(status: number, body: string, headers: HeadersInit = {}): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/** Above this, X-Prometheus-Scrape-Timeout-Seconds is not a scrape timeout (1e308 overflowed timers). */
const MAX_SCRAPE_TIMEOUT_SECONDS = 86_400;

/**
 * Seconds from Prometheus' X-Prometheus-Scrape-Timeout-Seconds, as a cap with margin on the
 * whole scrape; absent, garbage, negative or absurd values (over a day) mean no cap.
 */
export function scrapeCapMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > MAX_SCRAPE_TIMEOUT_SECONDS) return undefined;
  // Leave time to render and send before Prometheus gives up, as blackbox_exporter does.
  return Math.max(seconds * 1000 - 500, seconds * 500);
}

/** A Response, or a promise of one: the server answers a plain Response without waiting a turn. */
export type Handled = Response | Promise<Response>;

/** A request handler that answers at once when it can (issue 10: a cached scrape awaits nothing). */
export type Handler = (request: Request) => Handled;

interface Route {
  methods: string[];
  handle(request: Request): Handled;
}

/**
 * The path of a request URL. URL parsing costs more than the rest of a cached scrape, so a
 * plain path (letters, digits, "/", "-", "_") is cut out of the string; anything else (dot
 * segments, percent escapes) goes through URL, which normalises it. The request limit and the
 * router both ask for the same URL: the last answer is kept.
 */
export const pathOf: (url: string) => string = keepingLast((url) => {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return new URL(url).pathname;
  let end = url.indexOf("?", start);
  if (end < 0) end = url.length;
  const path = url.slice(start, end);
  return PLAIN_PATH.test(path) ? path : new URL(url).pathname;
});

const PLAIN_PATH = /^(?:\/[\w-]+)*\/?$/;

export function createHandler(deps: HandlerDeps): Handler {
  const reload = deps.reload;
  const runModule = deps.runModule;
  const get = (handle: Route["handle"]): Route => ({ methods: GET_HEAD, handle });
  // The headers promhttp (node_exporter) sends, and no more: Deno.serve answers a 200 whose only
  // header is Content-Type on a fast path (trySetServeFastStaticResponse). With a Vary header too,
  // every plain scrape took the general path, which the static server of `deno task bench` did
  // not (issue 10: 54 against 28 us of CPU per 1k-series plain scrape in that run).
  const headersOf = (format: Format) => ({
    plain: { "content-type": CONTENT_TYPES[format] },
    gzip: { "content-type": CONTENT_TYPES[format], "content-encoding": "gzip" },
  });
  // Made once: Response copies its init's headers, and a cached scrape allocates no more than it must.
  const scrapeHeaders = { text: headersOf("text"), openmetrics: headersOf("openmetrics") };
  const metrics = (format: Format, gzip: boolean, body: Bytes[]): Response => {
    const headers = scrapeHeaders[format][gzip ? "gzip" : "plain"];
    const response = responseBody(body);
    return new Response(response.body, {
      headers: response.headers ? { ...headers, ...response.headers } : headers,
    });
  };
  const routes: Record<string, Route> = {
    [deps.telemetryPath]: get((request) => {
      const format = negotiateFormat(request.headers.get("accept"));
      const gzip = acceptsGzip(request.headers.get("accept-encoding"));
      const cap = scrapeCapMs(request.headers.get("x-prometheus-scrape-timeout-seconds"));
      const body = deps.scrape(format, gzip, cap);
      return body instanceof Promise
        ? body.then((bytes) => metrics(format, gzip, bytes))
        : metrics(format, gzip, body);
    }),
    "/": get((request) => {
      // `/?refresh=10`: the page reloads itself every 10 s (opt-in; off by default).
      const refresh = new URL(request.url).searchParams.get("refresh");
      if (refresh !== null && !/^[1-9]\d{0,3}$/.test(refresh)) {
        return text(
          400,
          `Bad refresh=${JSON.stringify(refresh).slice(0, 40)}: give whole seconds, 1 to 9999.\n`,
        );
      }
      return html(deps.landingPage(refresh === null ? undefined : Number(refresh)));
    }),
    "/module": get(async (request) => {
      const name = new URL(request.url).searchParams.get("name");
      if (!name) return text(400, "Give the module: GET /module?name=<name>\n");
      const page = await deps.modulePage(name);
      if (page !== undefined) return html(page);
      return text(
        404,
        `No module ${JSON.stringify(name.slice(0, 100))} here; the status page at / lists every module.\n`,
      );
    }),
    ...deps.probe ? { "/probe": get(deps.probe) } : {},
    "/-/healthy": get(() => text(200, "Healthy.\n")),
    "/-/ready": get(() =>
      deps.ready() ? text(200, "Ready.\n") : text(503, "Not ready: the metrics dir is still loading.\n")
    ),
    "/-/reload": {
      methods: ["POST"],
      async handle() {
        // As Prometheus does: the endpoint exists, but refuses unless the flag enables it.
        if (!reload) {
          return text(403, "Lifecycle API is not enabled; start with --web.enable-lifecycle.\n");
        }
        await reload();
        return text(200, "Reloaded.\n");
      },
    },
    "/-/run": {
      methods: ["POST"],
      async handle(request) {
        if (!runModule) {
          return text(403, "Lifecycle API is not enabled; start with --web.enable-lifecycle.\n");
        }
        const name = new URL(request.url).searchParams.get("module");
        if (!name) return text(400, "Give the module to run: POST /-/run?module=<name>\n");
        const shown = JSON.stringify(name.slice(0, 100));
        const done = await runModule(name);
        if ("report" in done) return text(200, done.report);
        switch (done.refused) {
          case "unknown":
            return text(404, `No module ${shown} is loaded and scheduled.\n`);
          case "running":
            return text(409, `Module ${shown} is running now; try again when its run has ended.\n`);
          case "stuck":
            return text(
              409,
              `Module ${shown} is stuck: calls abandoned at their timeout are still running.\n`,
            );
          case "stopped":
            return text(503, "The exporter is shutting down.\n");
        }
      },
    },
  };

  const failed = (path: string, err: unknown): Response => {
    deps.log.error("request failed", { path, err });
    return text(500, "Internal error; see the exporter's log.\n");
  };

  return (request) => {
    const pathname = pathOf(request.url);
    const route = Object.hasOwn(routes, pathname) ? routes[pathname] : undefined;
    if (!route) return text(404, `Not found: ${pathname}\n`);
    if (!route.methods.includes(request.method)) {
      const allow = route.methods.join(", ");
      return text(405, `Method ${request.method} not allowed on ${pathname}\n`, { allow });
    }
    // A HEAD gets the GET's response: Deno.serve sends its headers and no body, with the
    // GET's Content-Length, as node_exporter does. A bodiless Response would say 0.
    try {
      const handled = route.handle(request);
      return handled instanceof Response ? handled : handled.catch((err) => failed(pathname, err));
    } catch (err) {
      return failed(pathname, err);
    }
  };
}
