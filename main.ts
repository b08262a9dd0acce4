/** dynamic_exporter: serves Prometheus metrics computed by the modules in a directory. */

import "prom-client"; // `deno compile` embeds only npm packages imported statically from here.
import "bcryptjs"; // for lib/web_config/bcrypt_worker.ts, which `deno compile` takes in only by --include
import "@babel/parser"; // for lib/modules/declaration.ts, so `deno compile` embeds it
import { checkModule } from "./lib/check.ts";
import { installExitGuard } from "./lib/modules/exit_guard.ts";
import { Exporter } from "./lib/exporter.ts";
import { formatDuration } from "./lib/duration.ts";
import { EnvFileError, type EnvFileResult, loadEnvFile, reloadEnvFile } from "./lib/env_file.ts";
import { FlagError, formatHostPort, parseCommand } from "./lib/flags.ts";
import { HttpServer } from "./lib/http/http_server.ts";
import { Logger } from "./lib/log.ts";
import { limitRequests } from "./lib/http/request_limit.ts";
import { StallProbe } from "./lib/stall_probe.ts";
import { VERSION } from "./lib/version.ts";
import { WebConfigError } from "./lib/web_config/web_config.ts";
import { WebConfigWatcher } from "./lib/web_config/web_config_watcher.ts";
import { guardHandler } from "./lib/web_config/web_guard.ts";
import { HOST_COMMAND } from "./lib/host_protocol.ts";
import { parseHostArgs, runHost } from "./lib/host/host_main.ts";

/** The exit code when --shutdown.timeout passed with work still pending. */
const SHUTDOWN_TIMED_OUT = 3;

function fail(message: string): number {
  console.error(`dynamic_exporter: ${message}`);
  return 2;
}

async function checkMetricsDir(dir: string): Promise<string | undefined> {
  try {
    const info = await Deno.stat(dir);
    return info.isDirectory ? undefined : `--metrics.dir: "${dir}" is not a directory`;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return `--metrics.dir: "${dir}" does not exist`;
    return `--metrics.dir: cannot read "${dir}": ${(err as Error).message}`;
  }
}

/** Where in module code an error was thrown: its first `?v=N` stack frame, or undefined. */
function moduleFrame(err: unknown): string | undefined {
  const stack = err instanceof Error ? err.stack ?? "" : "";
  return /(file:\/\/\S+?)\?v=\d+(:\d+:\d+)/.exec(stack)?.slice(1, 3).join("");
}

/**
 * Module code can throw from its own timers or leave a rejection unhandled; Deno would exit.
 * A bad module must never take the server down, so log it instead.
 */
function survive(log: Logger): void {
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    log.error("unhandled rejection, ignored", { err: event.reason, at: moduleFrame(event.reason) });
  });
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    log.error("uncaught exception, ignored", { err: event.error, at: moduleFrame(event.error) });
  });
}

export async function main(args: string[]): Promise<number> {
  let command;
  try {
    command = parseCommand(args);
  } catch (err) {
    if (err instanceof FlagError) return fail(err.message);
    throw err;
  }
  if (command.kind === "help") {
    console.log(command.text);
    return 0;
  }
  if (command.kind === "version") {
    const { deno, v8, typescript } = Deno.version;
    console.log(`dynamic_exporter ${VERSION}\n  deno ${deno}\n  v8 ${v8}\n  typescript ${typescript}`);
    return 0;
  }
  const { config } = command;
  // Before any module loads, so that their top-level code sees the settings too.
  let env: EnvFileResult | undefined;
  try {
    env = config.envFile === undefined ? undefined : await loadEnvFile(config.envFile);
  } catch (err) {
    if (err instanceof EnvFileError) return fail(`--env-file: ${err.message}`);
    throw err;
  }
  const log = new Logger({ level: config.logLevel, format: config.logFormat });
  if (env) {
    // Names only: the values are the modules' secrets.
    log.debug("env file loaded", { file: config.envFile, set: env.set.join(","), kept: env.kept.join(",") });
  }
  // The one-off commands' own code loads only for them, not at every start of the exporter.
  if (command.kind === "check") {
    const check = command.suggestSandbox
      ? (await import("./lib/suggest_sandbox.ts")).suggestSandbox
      : checkModule;
    return check(command.file, {
      collectTimeoutMs: config.collectTimeoutMs,
      sandboxAll: config.sandboxAll,
      hosts: config,
      collectIntervalMs: config.collectIntervalMs,
      log,
      // Set by scripts/check_module.ts (the check-module task) once `deno check` passed.
      typeChecked: Deno.env.get("DYNAMIC_EXPORTER_TYPE_CHECKED") === "1",
      target: command.target,
    });
  }

  if (command.kind === "test") {
    const { testModules } = await import("./lib/testing/test_module.ts");
    return testModules(command.paths, {
      hosts: config,
      collectTimeoutMs: config.collectTimeoutMs,
      sandboxAll: config.sandboxAll,
      ...command.test,
    });
  }

  const dirProblem = await checkMetricsDir(config.metricsDir);
  if (dirProblem) return fail(dirProblem);

  let server: HttpServer | undefined;
  let web: WebConfigWatcher | undefined;
  try {
    web = config.webConfigFile === undefined
      ? undefined
      : await WebConfigWatcher.open(config.webConfigFile, { log, onTlsChange: (tls) => server!.setTls(tls) });
  } catch (err) {
    if (err instanceof WebConfigError) return fail(err.message);
    throw err;
  }
  const policy = web && (() => web!.policy());

  survive(log);
  const envFile = config.envFile;
  const reloadEnv = envFile === undefined || env === undefined ? undefined : async () => {
    try {
      const reloaded = await reloadEnvFile(envFile, env!);
      env = reloaded;
      log.info("env file reloaded", {
        file: envFile,
        set: env.set.join(","),
        kept: env.kept.join(","),
        changed: reloaded.changed,
      });
      return reloaded.changed;
    } catch (err) {
      // Names and line numbers only: never a value.
      log.error("env file reload failed; the modules keep the values they had", {
        file: envFile,
        err: err instanceof EnvFileError ? err.message : String(err),
      });
      return false;
    }
  };
  const exporter = new Exporter(config, { log, webConfig: web, reloadEnv });
  // Inside the guard: only authenticated requests take one of the --web.max-requests slots.
  const limited = limitRequests(exporter.handler(), { max: config.maxRequests, log });
  const handler = policy ? guardHandler(limited, policy) : limited;
  log.info("starting", { version: VERSION, metrics_dir: config.metricsDir });
  // Before the socket listens (issue 18, defect 7): a SIGTERM sent as soon as `listening` is
  // logged would otherwise find Deno's default action and end the exporter with 143.
  const stopped = Promise.withResolvers<string>();
  const onStop = (signal: string) => () => stopped.resolve(signal);
  const onHup = () => exporter.reload("SIGHUP");
  Deno.addSignalListener("SIGTERM", onStop("SIGTERM"));
  Deno.addSignalListener("SIGINT", onStop("SIGINT"));
  Deno.addSignalListener("SIGHUP", onHup);
  try {
    server = HttpServer.listen(config.listenAddress, handler, {
      log,
      tls: web?.tls,
      idleTimeoutMs: config.idleTimeoutMs,
    });
  } catch (err) {
    const { hostname, port } = config.listenAddress;
    log.error("cannot listen", { address: formatHostPort(hostname, port), err });
    web?.close();
    return 1;
  }
  const probe = StallProbe.enabled() ? new StallProbe(log) : undefined;

  // A signal during the first load (slow top-level awaits) stops at once, not after it.
  const signal = await Promise.race([
    stopped.promise,
    exporter.start().then(() => {
      log.info("metrics dir loaded; ready");
      return stopped.promise;
    }),
  ]);
  log.info("shutting down", { signal, timeout: formatDuration(config.shutdownTimeoutMs) });
  // No run starts after the signal, not even while in-flight scrapes finish.
  exporter.stopRuns();
  const stopping = (async () => {
    await server.shutdown(); // stops accepting and lets in-flight scrapes finish
    web?.close(); // after the requests in flight: it ends the bcrypt Worker their checks may wait on
    await exporter.close(); // every dispose()
    return true;
  })();
  // One deadline for all of it, below systemd's TimeoutStopSec: what is still pending then
  // (a load held by a top-level await, a hanging dispose()) is named and abandoned.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) =>
    timer = setTimeout(() => resolve(false), config.shutdownTimeoutMs)
  );
  const finished = await Promise.race([stopping, late]);
  clearTimeout(timer);
  probe?.stop();
  if (!finished) {
    log.error("shutdown timed out; abandoning what is pending", { pending: exporter.pending().join(", ") });
    exporter.killHosts();
    return SHUTDOWN_TIMED_OUT;
  }
  log.info("stopped");
  return 0;
}

if (import.meta.main && Deno.args[0] === HOST_COMMAND) {
  // The compiled binary starts its module hosts from itself (lib/supervisor/host_command.ts).
  await runHost(parseHostArgs(Deno.args.slice(1)));
} else if (import.meta.main) {
  // Before any module loads: a module's Deno.exit() or process.exit() throws; this is the exit.
  const { exit } = installExitGuard();
  exit(await main(Deno.args));
}
