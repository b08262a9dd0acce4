/** The HTTP request handler: a plain function of Request, so tests need no network. */

import { CONTENT_TYPES, type Format } from "../exposition/format.ts";
import { acceptsGzip, negotiateFormat } from "../exposition/negotiate.ts";
import type { Logger } from "../log.ts";
import { responseBody } from "./response_body.ts";

export interface HandlerDeps {
  telemetryPath: string;
  /** The exposition body, after scrape-time modules ran for at most `capMs`. */
  scrape(format: Format, gzip: boolean, capMs?: number): Promise<Uint8Array<ArrayBuffer>>;
  landingPage(): string;
  /** The first load of the metrics dir is done. */
  ready(): boolean;
  /** Rescans and reloads every module (a burst shares reloads); present only with --web.enable-lifecycle. */
  reload?(): Promise<void>;
  log: Logger;
}

const GET_HEAD = ["GET", "HEAD"];

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

interface Route {
  methods: string[];
  handle(request: Request): Promise<Response> | Response;
}

export function createHandler(deps: HandlerDeps): (request: Request) => Promise<Response> {
  const reload = deps.reload;
  const get = (handle: Route["handle"]): Route => ({ methods: GET_HEAD, handle });
  const routes: Record<string, Route> = {
    [deps.telemetryPath]: get(async (request) => {
      const format = negotiateFormat(request.headers.get("accept"));
      const gzip = acceptsGzip(request.headers.get("accept-encoding"));
      const cap = scrapeCapMs(request.headers.get("x-prometheus-scrape-timeout-seconds"));
      const body = await deps.scrape(format, gzip, cap);
      const headers: Record<string, string> = {
        "content-type": CONTENT_TYPES[format],
        vary: "Accept, Accept-Encoding",
      };
      if (gzip) headers["content-encoding"] = "gzip";
      const response = responseBody(body);
      return new Response(response.body, { headers: { ...headers, ...response.headers } });
    }),
    "/": get(() =>
      new Response(deps.landingPage(), { headers: { "content-type": "text/html; charset=utf-8" } })
    ),
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
  };

  return async (request) => {
    const { pathname } = new URL(request.url);
    const route = Object.hasOwn(routes, pathname) ? routes[pathname] : undefined;
    if (!route) return text(404, `Not found: ${pathname}\n`);
    if (!route.methods.includes(request.method)) {
      const allow = route.methods.join(", ");
      return text(405, `Method ${request.method} not allowed on ${pathname}\n`, { allow });
    }
    try {
      const response = await route.handle(request);
      return request.method === "HEAD" ? new Response(null, response) : response;
    } catch (err) {
      deps.log.error("request failed", { path: pathname, err });
      return text(500, "Internal error; see the exporter's log.\n");
    }
  };
}
