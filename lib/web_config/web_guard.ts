/** Applies the web config to every request: basic auth and the configured response headers. */

import { type Handler, pathOf } from "../http/handler.ts";
import type { BasicAuth } from "./basic_auth.ts";

export interface WebPolicy {
  /** Absent: no authentication. */
  auth?: BasicAuth;
  headers: Record<string, string>;
}

// Liveness must stay probeable without credentials (a load balancer, systemd, a kubelet), as
// Prometheus and exporter-toolkit leave it.
const OPEN_PATHS = new Set(["/-/healthy"]);

function withHeaders(response: Response, headers: Record<string, string>): Response {
  const entries = Object.entries(headers);
  if (entries.length === 0) return response;
  for (const [name, value] of entries) response.headers.set(name, value);
  return response;
}

/** `handler` behind the policy that `policy()` returns at the time of each request. */
export function guardHandler(
  handler: Handler,
  policy: () => WebPolicy,
): (request: Request) => Promise<Response> {
  return async (request) => {
    const { auth, headers } = policy();
    if (auth && !OPEN_PATHS.has(pathOf(request.url))) {
      const result = await auth.verify(request.headers.get("authorization"));
      if (result === "busy") {
        // Too many password checks pending: refused without running bcrypt, so a flood of
        // guesses costs the guesser. A cached credential never gets here.
        return withHeaders(
          new Response("Too many authentication attempts in progress; retry later.\n", {
            status: 429,
            headers: { "content-type": "text/plain; charset=utf-8", "retry-after": "1" },
          }),
          headers,
        );
      }
      if (result !== "ok") {
        return withHeaders(
          new Response("Unauthorized\n", {
            status: 401,
            headers: {
              "content-type": "text/plain; charset=utf-8",
              "www-authenticate": 'Basic realm="dynamic_exporter", charset="UTF-8"',
            },
          }),
          headers,
        );
      }
    }
    return withHeaders(await handler(request), headers);
  };
}
