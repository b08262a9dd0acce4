/**
 * `--web.max-requests`, as node_exporter has it: past that many requests in flight, a new one
 * is answered 503 at once instead of piling up (issue 8, item 15). It wraps the handler inside
 * the auth guard, so unauthenticated requests never take a slot (the bcrypt queue bounds
 * those), and the probes stay answerable: a kubelet must not restart a busy exporter.
 */

import type { Logger } from "../log.ts";
import { type Handler, pathOf } from "./handler.ts";

export interface RequestLimitOptions {
  /** Requests served at once; 0 means no limit. */
  max: number;
  log: Logger;
  /** Paths that are never refused nor counted. Default: `/-/healthy`, `/-/ready`. */
  exempt?: readonly string[];
  /** At most one warning per this many ms, counting the refusals since. Default 10000. */
  logEveryMs?: number;
  /** The clock, in ms. Default: `performance.now`. */
  now?: () => number;
}

/** `handler`, refusing with 503 what comes while `max` requests are in flight. */
export function limitRequests(handler: Handler, options: RequestLimitOptions): Handler {
  const { max, log } = options;
  if (max === 0) return handler;
  const exempt = new Set(options.exempt ?? ["/-/healthy", "/-/ready"]);
  const logEveryMs = options.logEveryMs ?? 10_000;
  const now = options.now ?? (() => performance.now());
  let inFlight = 0;
  let refused = 0;
  let loggedAt = -Infinity;
  return (request) => {
    if (exempt.has(pathOf(request.url))) return handler(request);
    if (inFlight >= max) {
      refused++;
      if (now() - loggedAt >= logEveryMs) {
        // A flood would write a line per request: one line per interval, with the count.
        log.warn("too many requests in flight; refusing with 503", { max_requests: max, refused });
        loggedAt = now();
        refused = 0;
      }
      return new Response(
        `Too many requests in flight (--web.max-requests=${max}); retry later.\n`,
        { status: 503, headers: { "content-type": "text/plain; charset=utf-8", "retry-after": "1" } },
      );
    }
    inFlight++;
    let handled;
    try {
      handled = handler(request);
    } catch (err) {
      inFlight--;
      throw err;
    }
    // A Response at once (a cached scrape) is done; a promise holds its slot until it settles.
    if (handled instanceof Response) {
      inFlight--;
      return handled;
    }
    return handled.finally(() => inFlight--);
  };
}
