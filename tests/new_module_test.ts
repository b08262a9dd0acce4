/**
 * `deno task new-module <name> --kind=...` (issues 19 and 20): the task as users run it, then
 * `deno task test-module` on what it wrote, and the written modules in the real exporter.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { descendants, parseSamples, runTask, scrape, startExporter, waitFor } from "./_server.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const KINDS = ["http", "command", "file", "probe"];

function task(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return runTask(args);
}

/** Every file under `dir`, relative to it, sorted. */
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(join(dir, prefix))) {
    const path = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory) out.push(...await listFiles(dir, path));
    else out.push(path);
  }
  return out.sort();
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "dx_new_module_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The files new-module writes for the module `name`, relative to the metrics dir. */
function filesOf(name: string): string[] {
  return [
    `${name}.ts`,
    `_fixtures/${name}/checks.ts`,
    `_fixtures/${name}/example/run1.json`,
    `_fixtures/${name}/example/run1.prom`,
    `_fixtures/${name}/example/run2.json`,
    `_fixtures/${name}/example/run2.prom`,
  ];
}

for (const kind of KINDS) {
  Deno.test(`new-module --kind=${kind} writes a module and its fixtures, and test-module passes on them`, async () => {
    await withDir(async (dir) => {
      const name = `shop_${kind}`;
      const file = `${dir}/${name}.ts`;
      const written = await task("new-module", name, `--kind=${kind}`, `--metrics.dir=${dir}`);
      assert.equal(written.code, 0, written.stderr);
      assert.equal(written.stderr, "");
      const lines = written.stdout.trimEnd().split("\n");
      assert.match(
        lines[0],
        new RegExp(`^new-module: wrote the ${kind} module ${name} \\(it .+\\) and its fixtures:$`),
      );
      assert.deepEqual(lines.slice(1, 7), filesOf(name).map((f) => `  ${dir}/${f}`));
      const commands = lines.slice(lines.indexOf("next:") + 1).filter((l) => l.startsWith("  "))
        .map((l) => l.slice(2, l.indexOf("  #")).trimEnd());
      const run = kind === "command" ? " --modules.allow-run=df" : "";
      const target = kind === "probe" ? " --target=http://127.0.0.1:8080/health" : "";
      assert.deepEqual(commands, [
        `deno task test-module ${file}`,
        `edit ${file}`,
        `deno task test-module ${file} --record${target}${run}`,
        `deno task check-module ${file}${target}${run}`,
        `deno task start --metrics.dir=${dir}${run}`,
        ...kind === "probe"
          ? [`curl 'localhost:8000/probe?module=${name}&target=http://127.0.0.1:8080/health'`]
          : [],
      ]);
      assert.deepEqual(await listFiles(dir), filesOf(name).sort());

      const tested = await task("test-module", file, "--format=tap");
      assert.equal(tested.code, 0, tested.stdout + tested.stderr);
      assert.deepEqual(tested.stdout.split("\n").filter((l) => l !== "" && !l.startsWith("  ")), [
        "TAP version 13",
        "1..2",
        `ok 1 - ${name}: example run 1`,
        `ok 2 - ${name}: example run 2`,
      ]);
    });
  });
}

Deno.test("new-module --kind=command says the exporter needs --modules.allow-run=df", async () => {
  await withDir(async (dir) => {
    const { code, stdout } = await task("new-module", "disk", "--kind=command", `--metrics.dir=${dir}`);
    assert.equal(code, 0);
    assert.equal(
      stdout.trimEnd().split("\n").at(-1),
      "note: running a command is beyond what modules may do by default (read, net, env): " +
        "the exporter loads disk only when started with --modules.allow-run=df",
    );
  });
});

Deno.test("the modules and checks new-module writes type-check against the exporter's import map", async () => {
  await withDir(async (dir) => {
    for (const kind of KINDS) {
      assert.equal(
        (await task("new-module", `typed_${kind}`, `--kind=${kind}`, `--metrics.dir=${dir}`)).code,
        0,
      );
    }
    const files = (await listFiles(dir)).filter((f) => f.endsWith(".ts")).map((f) => `${dir}/${f}`);
    assert.equal(files.length, 8);
    // One run for all of them: a type check of prom-client takes seconds.
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--frozen", "--cached-only", `--config=${ROOT}deno.json`, ...files],
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
  });
});

Deno.test("what new-module writes with the longest name it takes is formatted as deno fmt wants", async () => {
  await withDir(async (dir) => {
    for (const kind of KINDS) {
      const name = "n".repeat(40 - kind.length) + kind;
      assert.equal((await task("new-module", name, `--kind=${kind}`, `--metrics.dir=${dir}`)).code, 0);
    }
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["fmt", "--check", `--config=${ROOT}deno.json`, dir],
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
  });
});

Deno.test("new-module refuses to overwrite a module or its fixtures, exit 1, and leaves them as they were", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/mine.ts`, "// mine\n");
    await Deno.mkdir(`${dir}/_fixtures/theirs/recorded`, { recursive: true });
    const cases: [string, string][] = [
      ["mine", `new-module: ${dir}/mine.ts already exists; --force replaces them\n`],
      ["theirs", `new-module: ${dir}/_fixtures/theirs/ already exists; --force replaces them\n`],
    ];
    for (const [name, message] of cases) {
      const { code, stdout, stderr } = await task("new-module", name, "--kind=http", `--metrics.dir=${dir}`);
      assert.deepEqual({ code, stdout, stderr }, { code: 1, stdout: "", stderr: message });
    }
    assert.deepEqual(await listFiles(dir), ["mine.ts"]);
    assert.equal(await Deno.readTextFile(`${dir}/mine.ts`), "// mine\n");
  });
});

Deno.test("new-module says both when the module and its fixtures exist", async () => {
  await withDir(async (dir) => {
    assert.equal((await task("new-module", "twice", "--kind=file", `--metrics.dir=${dir}`)).code, 0);
    const { code, stderr } = await task("new-module", "twice", "--kind=file", `--metrics.dir=${dir}`);
    assert.deepEqual({ code, stderr }, {
      code: 1,
      stderr:
        `new-module: ${dir}/twice.ts and ${dir}/_fixtures/twice/ already exist; --force replaces them\n`,
    });
  });
});

Deno.test("new-module --force replaces the module and its whole fixture folder, a symlink's target left as it was", async () => {
  const elsewhere = await Deno.makeTempFile({ prefix: "dx_elsewhere_", suffix: ".ts" });
  await withDir(async (dir) => {
    await Deno.writeTextFile(elsewhere, "// old\n");
    await Deno.symlink(elsewhere, `${dir}/again.ts`);
    await Deno.mkdir(`${dir}/_fixtures/again/recorded`, { recursive: true });
    await Deno.writeTextFile(`${dir}/_fixtures/again/recorded/run1.json`, "{}\n");
    const { code } = await task("new-module", "again", "--kind=http", `--metrics.dir=${dir}`, "--force");
    assert.equal(code, 0);
    assert.deepEqual(await listFiles(dir), filesOf("again").sort());
    assert.ok((await Deno.lstat(`${dir}/again.ts`)).isFile, "the link is replaced by the module");
    assert.match(await Deno.readTextFile(`${dir}/again.ts`), /name: "again_queue_depth"/);
    assert.equal(await Deno.readTextFile(elsewhere), "// old\n");
  }).finally(() => Deno.remove(elsewhere));
});

Deno.test("new-module refuses a name another file already holds as a module, even with --force", async () => {
  await withDir(async (dir) => {
    // The scanner takes the first file of a name: a.js is module "a", and a.ts beside it would be passed over.
    await Deno.writeTextFile(`${dir}/a.js`, "export function process() {}\n");
    const { code, stderr } = await task("new-module", "a", "--kind=http", `--metrics.dir=${dir}`, "--force");
    assert.deepEqual({ code, stderr }, {
      code: 1,
      stderr: `new-module: ${dir}/a.js is already the module a; remove or rename it, or pick another name\n`,
    });
    assert.deepEqual(await listFiles(dir), ["a.js"]);
  });
});

Deno.test("new-module exits 2 with the reason for a bad name, a missing or unknown kind, or a bad flag", async () => {
  await withDir(async (dir) => {
    const invalid = (name: string) =>
      `${JSON.stringify(name)} is not a module name: use lowercase letters, digits and _, ` +
      `starting with a letter (it names the file and prefixes the module's metrics)`;
    const cases: [string[], string][] = [
      [["Shop", "--kind=http"], invalid("Shop")],
      [["1shop", "--kind=http"], invalid("1shop")],
      [["my-shop", "--kind=http"], invalid("my-shop")],
      [["_shop", "--kind=http"], invalid("_shop")],
      [["shop.ts", "--kind=http"], invalid("shop.ts")],
      [["a".repeat(41), "--kind=http"], `"${"a".repeat(41)}" is longer than 40 characters`],
      [
        ["dynamic_exporter_shop", "--kind=http"],
        `"dynamic_exporter_shop": the metric prefix dynamic_exporter_ is the exporter's own`,
      ],
      [["--kind=http"], "expects the module's name"],
      [["a", "b", "--kind=http"], "expects one name, not a b"],
      [["shop"], "--kind is required: http, command, file, probe"],
      [["shop", "--kind=grpc"], "--kind=grpc is not a kind of module: http, command, file, probe"],
      [
        ["shop", "--kind=http", "--dir=x"],
        "unknown flag --dir; the flags are --kind, --metrics.dir and --force",
      ],
      [["shop", "--kind"], "--kind: needs a value"],
      [["shop", "--kind=http", "--force=yes"], "--force: takes no value"],
    ];
    for (const [args, reason] of cases) {
      const { code, stdout, stderr } = await task("new-module", ...args, `--metrics.dir=${dir}`);
      assert.deepEqual(
        { code, stdout, line: stderr.split("\n")[0] },
        { code: 2, stdout: "", line: `new-module: ${reason}` },
        args.join(" "),
      );
      assert.match(stderr, /\nusage: deno task new-module <name> --kind=http\|command\|file\|probe/);
    }
    assert.deepEqual(await listFiles(dir), []);
  });
});

/** A loopback backend for the http module and the probe: the answers their fixtures replay. */
function backend(): { server: Deno.HttpServer<Deno.NetAddr>; port: number } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/status") return Response.json({ queues: { orders: 3, emails: 0 } });
    if (path === "/health") return new Response("ok");
    return new Response("not found", { status: 404 });
  });
  return { server, port: server.addr.port };
}

Deno.test("the modules new-module writes load and serve in the real exporter, each in its sandbox", async () => {
  await withDir(async (dir) => {
    for (const kind of KINDS) {
      assert.equal(
        (await task("new-module", `shop_${kind}`, `--kind=${kind}`, `--metrics.dir=${dir}`)).code,
        0,
      );
    }
    const { server, port } = backend();
    // The author's first edit: the backend's address, where the module and its sandbox name it.
    const edit = async (file: string, from: string, to: string) => {
      const text = await Deno.readTextFile(file);
      assert.equal(text.split(from).length, 3, `${file} names ${from} twice: the default and the sandbox`);
      await Deno.writeTextFile(file, text.replaceAll(from, to));
    };
    await edit(`${dir}/shop_http.ts`, "127.0.0.1:8080", `127.0.0.1:${port}`);
    await Deno.mkdir(`${dir}/backup`);
    await Deno.writeTextFile(`${dir}/backup/status.json`, `{"last_success": "2025-01-06T03:00:00Z"}\n`);
    await edit(`${dir}/shop_file.ts`, "/var/lib/shop_file/status.json", `${dir}/backup/status.json`);
    const exporter = await startExporter({ metricsDir: dir, args: ["--modules.allow-run=df"] });
    try {
      let samples = new Map<string, number>();
      await waitFor(async () => {
        samples = await scrape(exporter.url);
        return KINDS.every((kind) => samples.get(`dynamic_exporter_module_up{module="shop_${kind}"}`) === 1);
      }, { timeoutMs: 20_000, message: () => [...samples].join("\n") });
      for (const kind of KINDS) {
        assert.equal(samples.get(`dynamic_exporter_module_last_load_successful{module="shop_${kind}"}`), 1);
      }
      assert.equal(samples.get(`shop_http_queue_depth{queue="orders"}`), 3);
      assert.equal(samples.get(`shop_file_last_success_timestamp_seconds`), 1736132400);
      assert.ok((samples.get(`shop_command_avail_bytes{mount="/"}`) ?? 0) > 0, [...samples].join("\n"));
      // Each in a host of its own (its sandbox), named after it in `ps`; none in the shared host.
      const pids = await descendants(exporter.process.pid);
      const { stdout } = await new Deno.Command("ps", {
        args: ["-o", "args=", "-p", pids.join(",")],
        stdout: "piped",
      })
        .output();
      const hosts = [...new TextDecoder().decode(stdout).matchAll(/ --name=(\S+)/g)].map((m) => m[1]);
      assert.deepEqual(hosts.sort(), KINDS.map((kind) => `shop_${kind}`).sort());

      const target = `http://127.0.0.1:${port}/health`;
      const response = await fetch(
        `${exporter.url}/probe?module=shop_probe&target=${encodeURIComponent(target)}`,
      );
      const probed = parseSamples(await response.text());
      assert.equal(response.status, 200);
      assert.deepEqual([probed.get("shop_probe_http_status_code"), probed.get("probe_success")], [200, 1]);
    } finally {
      await exporter.stop("SIGKILL");
      await server.shutdown();
    }
  });
});
