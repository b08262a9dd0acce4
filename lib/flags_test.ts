import assert from "node:assert/strict";
import { type Config, helpText, parseCommand } from "./flags.ts";

const DEFAULTS: Config = {
  listenAddress: { hostname: "", port: 8000 },
  telemetryPath: "/metrics",
  webConfigFile: undefined,
  enableLifecycle: false,
  maxRequests: 40,
  idleTimeoutMs: 300_000,
  metricsDir: "./metrics",
  sandboxAll: false,
  moduleCeiling: { read: true, net: true, env: true, run: [], write: [], sys: [] },
  sharedMemoryBytes: 1024 ** 3,
  hostGraceMs: 3000,
  hostHeartbeatMs: 1000,
  rescanIntervalMs: 30_000,
  collectIntervalMs: 10_000,
  collectTimeoutMs: 5_000,
  collectMaxAgeMs: 0,
  shutdownTimeoutMs: 15_000,
  logLevel: "info",
  logFormat: "logfmt",
  envFile: undefined,
};

function run(config: Partial<Config>) {
  return { kind: "run", config: { ...DEFAULTS, ...config } };
}

function rejects(args: string[], message: string): void {
  assert.throws(() => parseCommand(args), { name: "FlagError", message });
}

Deno.test("parseCommand with no arguments runs with the documented defaults", () => {
  assert.deepEqual(parseCommand([]), run({}));
});

Deno.test("parseCommand reads --flag=value", () => {
  assert.deepEqual(parseCommand(["--metrics.dir=/etc/metrics"]), run({ metricsDir: "/etc/metrics" }));
});

Deno.test("parseCommand reads --flag value", () => {
  assert.deepEqual(parseCommand(["--metrics.dir", "/etc/metrics"]), run({ metricsDir: "/etc/metrics" }));
});

Deno.test("parseCommand keeps an = inside a --flag=value value", () => {
  assert.deepEqual(parseCommand(["--metrics.dir=a=b"]), run({ metricsDir: "a=b" }));
});

Deno.test("parseCommand reads every flag at once", () => {
  assert.deepEqual(
    parseCommand([
      "--web.listen-address=127.0.0.1:9100",
      "--web.telemetry-path",
      "/custom/metrics",
      "--web.config.file=web.yml",
      "--web.enable-lifecycle",
      "--web.max-requests=0",
      "--web.idle-timeout",
      "30s",
      "--metrics.dir",
      "/srv/metrics",
      "--metrics.rescan-interval=1m",
      "--modules.sandbox",
      "--modules.allow-sys=hostname",
      "--modules.memory=512MiB",
      "--modules.host-grace=2s",
      "--modules.heartbeat=250ms",
      "--collect.interval=1m30s",
      "--collect.timeout",
      "500ms",
      "--collect.max-age=2h",
      "--shutdown.timeout=10s",
      "--log.level=debug",
      "--log.format",
      "json",
      "--env-file=/etc/dynamic_exporter/env",
    ]),
    {
      kind: "run",
      config: {
        listenAddress: { hostname: "127.0.0.1", port: 9100 },
        telemetryPath: "/custom/metrics",
        webConfigFile: "web.yml",
        enableLifecycle: true,
        maxRequests: 0,
        idleTimeoutMs: 30_000,
        metricsDir: "/srv/metrics",
        sandboxAll: true,
        moduleCeiling: { read: true, net: true, env: true, run: [], write: [], sys: ["hostname"] },
        sharedMemoryBytes: 512 * 1024 ** 2,
        hostGraceMs: 2000,
        hostHeartbeatMs: 250,
        rescanIntervalMs: 60_000,
        collectIntervalMs: 90_000,
        collectTimeoutMs: 500,
        collectMaxAgeMs: 7_200_000,
        shutdownTimeoutMs: 10_000,
        logLevel: "debug",
        logFormat: "json",
        envFile: "/etc/dynamic_exporter/env",
      },
    },
  );
});

Deno.test("parseCommand turns on the lifecycle endpoint with --web.enable-lifecycle", () => {
  assert.deepEqual(parseCommand(["--web.enable-lifecycle"]), run({ enableLifecycle: true }));
});

Deno.test("parseCommand reads --web.config.file", () => {
  assert.deepEqual(parseCommand(["--web.config.file", "web.yml"]), run({ webConfigFile: "web.yml" }));
});

Deno.test("parseCommand accepts every log level", () => {
  assert.deepEqual(
    ["debug", "info", "warn", "error"].map((level) => parseCommand([`--log.level=${level}`])),
    [
      run({ logLevel: "debug" }),
      run({ logLevel: "info" }),
      run({ logLevel: "warn" }),
      run({
        logLevel: "error",
      }),
    ],
  );
});

Deno.test("parseCommand accepts both log formats", () => {
  assert.deepEqual(
    [parseCommand(["--log.format=logfmt"]), parseCommand(["--log.format=json"])],
    [run({ logFormat: "logfmt" }), run({ logFormat: "json" })],
  );
});

Deno.test("parseCommand accepts a collect interval of 0 for scrape-time collection", () => {
  assert.deepEqual(parseCommand(["--collect.interval=0"]), run({ collectIntervalMs: 0 }));
});

// Listen addresses

Deno.test("parseCommand reads a host:port listen address", () => {
  assert.deepEqual(
    parseCommand(["--web.listen-address=localhost:9100"]),
    run({ listenAddress: { hostname: "localhost", port: 9100 } }),
  );
});

Deno.test("parseCommand reads a :port listen address as every interface", () => {
  assert.deepEqual(
    parseCommand(["--web.listen-address", ":9100"]),
    run({ listenAddress: { hostname: "", port: 9100 } }),
  );
});

Deno.test("parseCommand reads a bracketed IPv6 listen address without the brackets", () => {
  assert.deepEqual(
    parseCommand(["--web.listen-address=[::1]:9100"]),
    run({ listenAddress: { hostname: "::1", port: 9100 } }),
  );
});

Deno.test("parseCommand accepts port 0 so the system picks a free port", () => {
  assert.deepEqual(
    parseCommand(["--web.listen-address=:0"]),
    run({ listenAddress: { hostname: "", port: 0 } }),
  );
});

Deno.test("parseCommand accepts the highest port, 65535", () => {
  assert.deepEqual(
    parseCommand(["--web.listen-address=0.0.0.0:65535"]),
    run({ listenAddress: { hostname: "0.0.0.0", port: 65535 } }),
  );
});

Deno.test("parseCommand rejects a listen address that is not host:port", () => {
  const inputs = [
    "",
    "localhost",
    "9100",
    ":",
    "localhost:",
    ":http",
    ":-1",
    "::1:9100",
    "[::1]",
    "[::1]9100",
  ];
  assert.deepEqual(
    inputs.map((value) => {
      try {
        return parseCommand([`--web.listen-address=${value}`]);
      } catch (err) {
        return `${(err as Error).name}: ${(err as Error).message}`;
      }
    }),
    inputs.map((value) =>
      `FlagError: --web.listen-address: "${value}" must be host:port, :port or [ipv6]:port`
    ),
  );
});

Deno.test("parseCommand rejects a listen port above 65535", () => {
  rejects(["--web.listen-address=:65536"], `--web.listen-address: ":65536" has a port above 65535`);
});

Deno.test("parseCommand rejects empty IPv6 brackets in the listen address", () => {
  rejects(["--web.listen-address=[]:9100"], `--web.listen-address: "[]:9100" has an empty IPv6 address`);
});

// Durations

Deno.test("parseCommand rejects a collect interval with no unit", () => {
  rejects(
    ["--collect.interval=10"],
    `--collect.interval: invalid duration "10": use a number and a unit, like 500ms, 10s, 1m or 1h30m`,
  );
});

Deno.test("parseCommand rejects a duration with units out of order", () => {
  rejects(
    ["--collect.interval=30m1h"],
    `--collect.interval: invalid duration "30m1h": units must go from largest to smallest`,
  );
});

Deno.test("parseCommand rejects a bad collect timeout, naming that flag", () => {
  rejects(
    ["--collect.timeout", "5 s"],
    `--collect.timeout: invalid duration "5 s": use a number and a unit, like 500ms, 10s, 1m or 1h30m`,
  );
});

Deno.test("parseCommand rejects an empty collect interval", () => {
  rejects(
    ["--collect.interval="],
    `--collect.interval: invalid duration "": use a number and a unit, like 500ms, 10s, 1m or 1h30m`,
  );
});

Deno.test("parseCommand reads --collect.max-age as a duration", () => {
  assert.deepEqual(parseCommand(["--collect.max-age=1h30m"]), run({ collectMaxAgeMs: 5_400_000 }));
});

Deno.test("parseCommand rejects a bad collect max age, naming that flag", () => {
  rejects(
    ["--collect.max-age=1 h"],
    `--collect.max-age: invalid duration "1 h": use a number and a unit, like 500ms, 10s, 1m or 1h30m`,
  );
});

Deno.test("parseCommand rejects a collect timeout of 0", () => {
  rejects(["--collect.timeout=0"], "--collect.timeout: must be greater than 0");
});

Deno.test("parseCommand rejects a collect timeout of 0s", () => {
  rejects(["--collect.timeout=0s"], "--collect.timeout: must be greater than 0");
});

// Log level and format

Deno.test("parseCommand rejects an unknown log level", () => {
  rejects(["--log.level=trace"], `--log.level: "trace" is not one of debug, info, warn, error`);
});

Deno.test("parseCommand rejects a log level in the wrong case", () => {
  rejects(["--log.level", "INFO"], `--log.level: "INFO" is not one of debug, info, warn, error`);
});

Deno.test("parseCommand rejects an unknown log format", () => {
  rejects(["--log.format=text"], `--log.format: "text" is not one of logfmt, json`);
});

// Unknown flags, missing values, stray arguments

Deno.test("parseCommand rejects an unknown long flag", () => {
  rejects(["--collector.foo=1"], "unknown flag --collector.foo; see --help");
});

Deno.test("parseCommand rejects an unknown short flag", () => {
  rejects(["-x"], "unknown flag -x; see --help");
});

Deno.test("parseCommand rejects a flag missing its value at the end of the line", () => {
  rejects(["--metrics.dir"], "--metrics.dir: needs a value");
});

Deno.test("parseCommand rejects a flag missing its value before another flag", () => {
  rejects(["--metrics.dir", "--log.level=debug"], "--metrics.dir: needs a value");
});

Deno.test("parseCommand rejects a value given to a boolean flag", () => {
  rejects(["--web.enable-lifecycle=false"], "--web.enable-lifecycle: takes no value");
});

Deno.test("parseCommand rejects an empty metrics dir", () => {
  rejects(["--metrics.dir="], "--metrics.dir: must not be empty");
});

Deno.test("parseCommand rejects a stray positional argument", () => {
  rejects(["metrics"], `unexpected argument "metrics"; see --help`);
});

// Telemetry path

Deno.test("parseCommand accepts a nested telemetry path", () => {
  assert.deepEqual(
    parseCommand(["--web.telemetry-path=/probe/metrics"]),
    run({ telemetryPath: "/probe/metrics" }),
  );
});

Deno.test("parseCommand rejects a telemetry path without a leading slash", () => {
  rejects(
    ["--web.telemetry-path=metrics"],
    `--web.telemetry-path: "metrics" must be a path starting with "/"`,
  );
});

Deno.test("parseCommand rejects an empty telemetry path", () => {
  rejects(["--web.telemetry-path="], `--web.telemetry-path: "" must be a path starting with "/"`);
});

Deno.test("parseCommand rejects a telemetry path with a query, fragment or space", () => {
  const inputs = ["/metrics?x=1", "/metrics#top", "/my metrics"];
  assert.deepEqual(
    inputs.map((value) => {
      try {
        return parseCommand([`--web.telemetry-path=${value}`]);
      } catch (err) {
        return `${(err as Error).name}: ${(err as Error).message}`;
      }
    }),
    inputs.map((value) => `FlagError: --web.telemetry-path: "${value}" must be a path starting with "/"`),
  );
});

Deno.test("parseCommand rejects / as telemetry path, which is the landing page", () => {
  rejects(
    ["--web.telemetry-path=/"],
    `--web.telemetry-path: "/" collides with the landing page or /-/ endpoints`,
  );
});

Deno.test("parseCommand rejects a telemetry path under /-/", () => {
  rejects(
    ["--web.telemetry-path=/-/metrics"],
    `--web.telemetry-path: "/-/metrics" collides with the landing page or /-/ endpoints`,
  );
});

// check subcommand

Deno.test("parseCommand reads check <file> with the default config", () => {
  assert.deepEqual(parseCommand(["check", "metrics/foo.ts"]), {
    kind: "check",
    file: "metrics/foo.ts",
    config: DEFAULTS,
  });
});

Deno.test("parseCommand reads flags given after check <file>", () => {
  assert.deepEqual(parseCommand(["check", "metrics/foo.ts", "--log.level=debug", "--collect.timeout=2s"]), {
    kind: "check",
    file: "metrics/foo.ts",
    config: { ...DEFAULTS, logLevel: "debug", collectTimeoutMs: 2000 },
  });
});

Deno.test("parseCommand rejects check without a file", () => {
  rejects(["check"], "check: expects exactly one module file, got 0");
});

Deno.test("parseCommand rejects check with two files", () => {
  rejects(["check", "a.ts", "b.ts"], "check: expects exactly one module file, got 2");
});

Deno.test("parseCommand rejects a bad flag given with check", () => {
  rejects(
    ["check", "a.ts", "--log.level=loud"],
    `--log.level: "loud" is not one of debug, info, warn, error`,
  );
});

// --help and --version

Deno.test("parseCommand --help returns help text describing every flag with its default", () => {
  assert.deepEqual(parseCommand(["--help"]), {
    kind: "help",
    text: `usage: dynamic_exporter [flags]
       dynamic_exporter check <module file> [flags]
       dynamic_exporter test <module file | dir>... [flags]

Serves Prometheus metrics computed by the TypeScript/JavaScript modules in a directory,
loading, reloading and unloading them as the files change.

Flags:
  --web.listen-address=<value>
      Address to listen on: host:port, :port (all interfaces), [::1]:port; port 0 picks a free port. (default: ":8000")
  --web.telemetry-path=<value>
      Path under which to expose metrics. (default: "/metrics")
  --web.config.file=<value>
      Path to an exporter-toolkit web config file (TLS, basic auth, headers); re-read when it changes.
  --web.enable-lifecycle
      Enable POST /-/reload, which rescans the metrics dir and reloads every module, and POST /-/run?module=<name>, which runs one module now.
  --web.max-requests=<value>
      Maximum number of requests served at once (/-/healthy and /-/ready excepted); more get 503 at once. 0 means no limit. (default: "40")
  --web.idle-timeout=<value>
      Idle HTTP connections (kept alive, or without a complete request) are closed within this long, by rebinding the socket, which refuses new connections for a few ms. 0 never closes them. (default: "5m")
  --metrics.dir=<value>
      Directory of metric modules. (default: "./metrics")
  --target=<value>
      With check: call the module's probe() once with this target (one the module accepts), as GET /probe would. With test --record: record a probe of it.
  --record
      With test: run each module once against its real backend and store what it fetched, ran and read as a scenario (--scenario, default "recorded") with its golden file.
  --update
      With test: rewrite the golden files (runN.prom) with what is served.
  --scenario=<value>
      With test: only this scenario; with --record, the one it writes.
  --format=<value>
      With test: the report's format: text, tap or junit. (default: "text")
  --suggest-sandbox
      With check: run the module once within the modules' permissions with Deno's permission audit on, and print the sandbox declaration of what it used (net as host:port, exact paths, env names), checked by a second run in a host with exactly it.
  --metrics.rescan-interval=<value>
      How often the metrics dir is rescanned without a file event (for file systems that send none, such as NFS), retrying modules that failed to load. (default: "30s")
  --modules.sandbox
      Run every module in a host process of its own with only the permissions its sandbox export declares (none if it declares none).
  --modules.allow-net[=<values>]
      What modules may have of net, as Deno's --allow-net takes it: the flag alone for all, =a,b for those, = for none. The shared host holds it; a sandbox may declare within it. Default: all.
  --modules.allow-read[=<values>]
      What modules may have of read, as Deno's --allow-read takes it: the flag alone for all, =a,b for those, = for none. The shared host holds it; a sandbox may declare within it. Default: all.
  --modules.allow-env[=<values>]
      What modules may have of env, as Deno's --allow-env takes it: the flag alone for all, =a,b for those, = for none. The shared host holds it; a sandbox may declare within it. Default: all.
  --modules.allow-run[=<values>]
      What modules may have of run, as Deno's --allow-run takes it: the flag alone for all, =a,b for those, = for none. The shared host holds it; a sandbox may declare within it. Default: none.
  --modules.allow-write[=<values>]
      What modules may have of write, as Deno's --allow-write takes it: the flag alone for all, =a,b for those, = for none. The shared host holds it; a sandbox may declare within it. Default: none.
  --modules.allow-sys[=<values>]
      What modules may have of sys, as Deno's --allow-sys takes it: the flag alone for all, =a,b for those, = for none. The shared host holds it; a sandbox may declare within it. Default: none.
  --modules.memory=<value>
      The heap budget of the shared module host (modules without a sandbox); a sandboxed module's is its sandbox.memory. A host past it is restarted. (default: "1GiB")
  --modules.host-grace=<value>
      A module host that answers nothing for this long past the timeouts of its calls (a loop after an await, a long native call) is killed and restarted. (default: "3s")
  --modules.heartbeat=<value>
      How often each module host is pinged. (default: "1s")
  --collect.interval=<value>
      How often each module's process() runs; 0 runs it at scrape time. (default: "10s")
  --collect.timeout=<value>
      A process() call running longer than this is abandoned and counted as a timeout. (default: "5s")
  --collect.max-age=<value>
      Once a module's last successful process() is older than this, its series are no longer served (module_up stays 0) until its next success; a module's maxAge export overrides it. 0 serves the last values for ever. (default: "0")
  --shutdown.timeout=<value>
      Deadline for stopping on SIGTERM or SIGINT; what is still pending then is logged and abandoned, and the exit code is 3. Keep it below systemd's TimeoutStopSec. (default: "15s")
  --log.level=<value>
      Only log messages at or above this level: debug, info, warn, error. (default: "info")
  --log.format=<value>
      Log line format: logfmt or json. (default: "logfmt")
  --env-file=<value>
      A file of KEY=VALUE lines (# comments, optional quotes) loaded into the environment before any module loads, for the modules' settings; a variable already set in the environment wins.
  -h, --help
      Show this help and exit.
  --version
      Show version information and exit.
`,
  });
});

Deno.test("parseCommand --help lists every flag of the contract", () => {
  const command = parseCommand(["--help"]);
  if (command.kind !== "help") assert.fail(`expected help, got ${command.kind}`);
  const listed = [...command.text.matchAll(/^ {2}(?:-\w, )?--([\w.-]+)/gm)].map((m) => m[1]);
  assert.deepEqual(listed, [
    "web.listen-address",
    "web.telemetry-path",
    "web.config.file",
    "web.enable-lifecycle",
    "web.max-requests",
    "web.idle-timeout",
    "metrics.dir",
    "target",
    "record",
    "update",
    "scenario",
    "format",
    "suggest-sandbox",
    "metrics.rescan-interval",
    "modules.sandbox",
    "modules.allow-net",
    "modules.allow-read",
    "modules.allow-env",
    "modules.allow-run",
    "modules.allow-write",
    "modules.allow-sys",
    "modules.memory",
    "modules.host-grace",
    "modules.heartbeat",
    "collect.interval",
    "collect.timeout",
    "collect.max-age",
    "shutdown.timeout",
    "log.level",
    "log.format",
    "env-file",
    "help",
    "version",
  ]);
});

Deno.test("parseCommand --help wins over a bad value of another flag", () => {
  assert.deepEqual(parseCommand(["--log.level=loud", "--help"]), { kind: "help", text: helpText() });
});

Deno.test("parseCommand --version asks for the version", () => {
  assert.deepEqual(parseCommand(["--version"]), { kind: "version" });
});

Deno.test("parseCommand rejects a flag given twice", () => {
  assert.throws(() => parseCommand(["--log.level=debug", "--log.level", "info"]), {
    name: "FlagError",
    message: "--log.level: given more than once",
  });
});

Deno.test("parseCommand takes --shutdown.timeout and refuses 0", () => {
  const command = parseCommand(["--shutdown.timeout=2s"]);
  assert.equal(command.kind === "run" && command.config.shutdownTimeoutMs, 2000);
  rejects(["--shutdown.timeout=0"], "--shutdown.timeout: must be greater than 0");
});

Deno.test("parseCommand takes --metrics.rescan-interval and refuses 0", () => {
  const command = parseCommand(["--metrics.rescan-interval=5s"]);
  assert.equal(command.kind === "run" && command.config.rescanIntervalMs, 5000);
  assert.throws(() => parseCommand(["--metrics.rescan-interval=0"]), {
    name: "FlagError",
    message: "--metrics.rescan-interval: must be greater than 0",
  });
  assert.throws(() => parseCommand(["--metrics.rescan-interval=30d"]), {
    name: "FlagError",
    message: `--metrics.rescan-interval: invalid duration "30d": at most 3w3d`,
  });
  assert.throws(() => parseCommand(["--collect.interval=2y"]), {
    name: "FlagError",
    message: `--collect.interval: invalid duration "2y": at most 1y`,
  });
});

Deno.test("parseCommand rejects a --web.max-requests that is not a whole number", () => {
  for (const value of ["-1", "1.5", "ten", "", "1e3", "1000000000"]) {
    rejects(
      [`--web.max-requests=${value}`],
      `--web.max-requests: "${value}" is not a whole number (0 or more, below 10^9)`,
    );
  }
});

Deno.test("parseCommand rejects a bad --web.idle-timeout, naming that flag", () => {
  assert.throws(() => parseCommand(["--web.idle-timeout=5"]), {
    name: "FlagError",
    message: /^--web\.idle-timeout: /,
  });
});

Deno.test("parseCommand takes -h as --help", () => {
  assert.deepEqual(parseCommand(["-h"]), { kind: "help", text: helpText() });
  assert.match(helpText(), /^ {2}-h, --help$/m);
});

Deno.test("parseCommand suggests the nearest known flag for a typo", () => {
  rejects(["--metrics-dir=/srv"], "unknown flag --metrics-dir; did you mean --metrics.dir? see --help");
  rejects(
    ["--collect.intervall=1m"],
    "unknown flag --collect.intervall; did you mean --collect.interval? see --help",
  );
  rejects(["--envfile", "x"], "unknown flag --envfile; did you mean --env-file? see --help");
});

Deno.test("parseCommand suggests nothing for a flag far from every known one", () => {
  rejects(["--storage.tsdb.path=/x"], "unknown flag --storage.tsdb.path; see --help");
});

Deno.test("parseCommand reads --env-file and refuses it empty", () => {
  assert.deepEqual(parseCommand(["--env-file=.env"]), run({ envFile: ".env" }));
  rejects(["--env-file="], "--env-file: must not be empty");
});

Deno.test("--modules.allow-* flags set the modules' ceiling: alone for all, a list, or empty for none", () => {
  const { config } = parseCommand([
    "--modules.allow-run=/usr/bin/df,/usr/bin/ps",
    "--modules.allow-write",
    "--modules.allow-net=",
  ]) as { config: Config };
  assert.deepEqual(config.moduleCeiling, {
    read: true,
    net: [],
    env: true,
    run: ["/usr/bin/df", "/usr/bin/ps"],
    write: true,
    sys: [],
  });
});

Deno.test("--modules.heartbeat must be shorter than --modules.host-grace", () => {
  rejects(
    ["--modules.heartbeat=5s", "--modules.host-grace=2s"],
    "--modules.heartbeat: must be greater than 0 and shorter than --modules.host-grace",
  );
});

Deno.test("a --modules.allow-* flag given again replaces the earlier one (the binary's baked ceiling)", () => {
  const { config } = parseCommand([
    "--modules.allow-sys=hostname,osRelease",
    "--modules.allow-sys=hostname",
  ]) as {
    config: Config;
  };
  assert.deepEqual(config.moduleCeiling.sys, ["hostname"]);
  rejects(["--log.level=info", "--log.level=debug"], "--log.level: given more than once");
});

Deno.test("parseCommand takes --target only with check", () => {
  assert.deepEqual(
    parseCommand(["check", "m.ts", "--target=http://a.internal/"]),
    { kind: "check", file: "m.ts", config: DEFAULTS, target: "http://a.internal/" },
  );
  rejects(
    ["--target=x"],
    "--target: only with check <module file>, which probes the module once, or test --record, which records a probe",
  );
});

Deno.test("parseCommand takes test with its files and its own flags, and those flags only with test", () => {
  assert.deepEqual(parseCommand(["test", "metrics", "examples/df.ts", "--format=tap"]), {
    kind: "test",
    paths: ["metrics", "examples/df.ts"],
    config: DEFAULTS,
    test: { record: false, update: false, scenario: undefined, format: "tap" },
  });
  assert.deepEqual(parseCommand(["test", "p.ts", "--record", "--scenario=down", "--target=a"]), {
    kind: "test",
    paths: ["p.ts"],
    config: DEFAULTS,
    test: { record: true, probe: { target: "a" }, update: false, scenario: "down", format: "text" },
  });
  rejects(["test"], "test: expects module files or dirs of modules with fixtures");
  rejects(
    ["--update"],
    "--update: only with test <module file | dir>..., which runs modules against fixtures",
  );
  rejects(["test", "m.ts", "--format=xml"], '--format: "xml" is not one of text, tap, junit');
  rejects(
    ["test", "m.ts", "--scenario=../x"],
    `--scenario: "../x" is not a folder name (letters, digits, . _ -)`,
  );
  rejects(
    ["test", "m.ts", "--record", "--update"],
    "--record: writes the golden file of what it records; give it without --update",
  );
  rejects(
    ["test", "m.ts", "--target=a"],
    "--target: only with check <module file>, which probes the module once, or test --record, which records a probe",
  );
});

Deno.test("parseCommand takes --suggest-sandbox only with check", () => {
  assert.deepEqual(
    parseCommand(["check", "m.ts", "--suggest-sandbox"]),
    { kind: "check", file: "m.ts", config: DEFAULTS, suggestSandbox: true },
  );
  rejects(["--suggest-sandbox"], "--suggest-sandbox: only with check <module file>");
});
