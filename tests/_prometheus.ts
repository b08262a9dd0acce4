/** Test helpers: a real Prometheus server (the `prometheus` binary) on a loopback port and a temp dir. */

import { waitFor } from "./_server.ts";

/** One element of an instant query's vector result. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface Prometheus {
  /** Base URL of the web API, like `http://127.0.0.1:41234`. */
  url: string;
  /** The temp dir holding prometheus.yml, the `files` option's files and the TSDB (`data/`). */
  dir: string;
  /** Runs an instant query at the current time; throws unless the API answers `success`. */
  query(promql: string): Promise<Sample[]>;
  /**
   * Polls `promql` until `done` accepts its result and returns that result; on timeout the error
   * carries the last result and Prometheus' log tail.
   */
  waitForQuery(
    promql: string,
    done: (results: Sample[]) => boolean,
    options?: { timeoutMs?: number },
  ): Promise<Sample[]>;
  /** The last lines Prometheus logged (it logs to stderr), for failure messages. */
  logTail(): string;
  /** Kills Prometheus, waits for it to exit and removes `dir`. Safe to call twice. */
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** Files written into `dir` before start, by name; a config can name them relative to itself. Default: none. */
  files?: Record<string, string>;
  /** Extra command-line flags; a `--log.level=` here replaces the helper's `debug`. Default: none. */
  args?: string[];
  /** How long to wait for `/-/ready`. Default: 30 000 ms. */
  readyTimeoutMs?: number;
}

const LOG_TAIL_LINES = 40;
const PORT_ATTEMPTS = 3;

/**
 * Starts `prometheus` with `config` as its prometheus.yml (a function gets the temp dir, to name
 * files in it) on a free loopback port, and waits until `/-/ready` answers 200.
 */
export async function startPrometheus(
  config: string | ((dir: string) => string),
  options: PrometheusOptions = {},
): Promise<Prometheus> {
  const dir = await Deno.makeTempDir({ prefix: "dx_prom_" });
  try {
    await Deno.writeTextFile(`${dir}/prometheus.yml`, typeof config === "string" ? config : config(dir));
    for (const [name, content] of Object.entries(options.files ?? {})) {
      await Deno.writeTextFile(`${dir}/${name}`, content);
    }
    // freePort() releases the port before Prometheus binds it, so another process may take it
    // in between: retry on that one failure.
    for (let attempt = 1;; attempt++) {
      const started = await spawn(dir, freePort(), options);
      if (started.ok) return started.prometheus;
      if (attempt === PORT_ATTEMPTS || !started.log.includes("address already in use")) {
        throw new Error(`prometheus did not start: ${started.reason}; log tail:\n${started.log}`, {
          cause: started.cause,
        });
      }
    }
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
}

type Spawned =
  | { ok: true; prometheus: Prometheus }
  | { ok: false; reason: string; log: string; cause?: unknown };

async function spawn(dir: string, port: number, options: PrometheusOptions): Promise<Spawned> {
  const args = options.args ?? [];
  const child = new Deno.Command("prometheus", {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      // Failed scrapes are logged at debug only; the log tail should say why a target is down.
      // Prometheus refuses a flag given twice, so `args` may replace this one.
      ...args.some((arg) => arg.startsWith("--log.level=")) ? [] : ["--log.level=debug"],
      ...args,
    ],
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const tail: string[] = [];
  const reading = (async () => {
    let buffer = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      const lines = (buffer + chunk).split("\n");
      buffer = lines.pop()!;
      tail.push(...lines);
      tail.splice(0, Math.max(0, tail.length - LOG_TAIL_LINES));
    }
    if (buffer !== "") tail.push(buffer);
  })();
  let exited = false;
  const status = child.status.finally(() => exited = true);
  const logTail = () => tail.join("\n");
  const url = `http://127.0.0.1:${port}`;

  const kill = async () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await status;
    await reading;
  };

  try {
    // Stop waiting as soon as Prometheus exits (a bad config, a taken port) rather than at the deadline.
    await waitFor(async () => exited || await isReady(url), {
      timeoutMs: options.readyTimeoutMs ?? 30_000,
      intervalMs: 100,
      message: () => `${url}/-/ready never answered 200`,
    });
  } catch (err) {
    await kill();
    return {
      ok: false,
      reason: err instanceof Error ? err.message : String(err),
      log: logTail(),
      cause: err,
    };
  }
  if (exited) {
    await kill();
    return { ok: false, reason: `exited with code ${(await status).code}`, log: logTail() };
  }

  const query = async (promql: string): Promise<Sample[]> => {
    const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const json = await response.json();
    if (json.status !== "success") throw new Error(`query ${promql}: ${JSON.stringify(json)}`);
    return json.data.result;
  };
  let stopped: Promise<void> | undefined;
  return {
    ok: true,
    prometheus: {
      url,
      dir,
      query,
      async waitForQuery(promql, done, { timeoutMs = 10_000 } = {}) {
        let results: Sample[] = [];
        await waitFor(async () => done(results = await query(promql)), {
          timeoutMs,
          intervalMs: 100,
          message: () => `${promql} returned ${JSON.stringify(results)}; prometheus log tail:\n${logTail()}`,
        });
        return results;
      },
      logTail,
      stop() {
        stopped ??= (async () => {
          await kill();
          await Deno.remove(dir, { recursive: true });
        })();
        return stopped;
      },
    },
  };
}

async function isReady(url: string): Promise<boolean> {
  const response = await fetch(`${url}/-/ready`);
  await response.body?.cancel();
  return response.status === 200;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}
