/** contrib/prometheus: the example scrape config and alerting rules, checked and unit-tested by promtool. */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import yaml from "js-yaml";
import { hasCommand } from "./_promtool.ts";

const CONTRIB = fileURLToPath(new URL("../contrib/prometheus/", import.meta.url));
const CONFIG = `${CONTRIB}prometheus.yml`;
const RULES = `${CONTRIB}dynamic_exporter.rules.yml`;
const RULES_TEST = `${CONTRIB}dynamic_exporter.rules.test.yml`;

const hasPromtool = await hasCommand("promtool");
if (!hasPromtool) {
  console.warn(
    "skipping the contrib/prometheus tests: promtool is not installed (apt-get install prometheus)",
  );
}

async function promtool(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command("promtool", {
    args,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

Deno.test({
  name: "promtool check config accepts the example prometheus.yml and the rules file it loads",
  ignore: !hasPromtool,
  async fn() {
    assert.deepEqual(await promtool("check", "config", CONFIG), {
      code: 0,
      stdout: `Checking ${CONFIG}\n` +
        "  SUCCESS: 1 rule files found\n" +
        ` SUCCESS: ${CONFIG} is valid prometheus config file syntax\n` +
        "\n" +
        `Checking ${RULES}\n` +
        "  SUCCESS: 5 rules found\n" +
        "\n",
      stderr: "",
    });
  },
});

Deno.test({
  name: "promtool check rules accepts all five dynamic_exporter alerting rules",
  ignore: !hasPromtool,
  async fn() {
    assert.deepEqual(await promtool("check", "rules", RULES), {
      code: 0,
      stdout: `Checking ${RULES}\n  SUCCESS: 5 rules found\n\n`,
      stderr: "",
    });
  },
});

Deno.test({
  name: "promtool test rules passes every alert's firing and quiet cases",
  ignore: !hasPromtool,
  async fn() {
    assert.deepEqual(await promtool("test", "rules", RULES_TEST), {
      code: 0,
      stdout: `Unit Testing:  ${RULES_TEST}\n  SUCCESS\n\n`,
      stderr: "",
    });
  },
});

Deno.test({
  name: "promtool test rules fails when a test expects a label the alert does not have",
  ignore: !hasPromtool,
  async fn() {
    const tests = await Deno.readTextFile(RULES_TEST);
    assert.equal(tests.split("severity: critical").length, 2, "expected one DynamicExporterDown severity");
    // The copy's rule_files entry is relative, so the rules file goes beside it.
    const dir = await Deno.makeTempDir({ prefix: "dx_rules_" });
    try {
      await Deno.copyFile(RULES, `${dir}/dynamic_exporter.rules.yml`);
      await Deno.writeTextFile(
        `${dir}/wrong.test.yml`,
        tests.replace("severity: critical", "severity: page"),
      );
      const { code, stderr } = await promtool("test", "rules", `${dir}/wrong.test.yml`);
      assert.equal(code, 1);
      assert.match(
        stderr,
        /exp:\[\s+0:\s+Labels:\{alertname="DynamicExporterDown", instance="host-a:8000", job="dynamic_exporter", severity="page"\}/,
      );
      assert.match(
        stderr,
        /got:\[\s+0:\s+Labels:\{alertname="DynamicExporterDown", instance="host-a:8000", job="dynamic_exporter", severity="critical"\}/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("the alert rules name the check command of a checkout and of a binary, and test short and very long intervals", async () => {
  const rules = await Deno.readTextFile(RULES);
  // Issue 18: a checkout has the task, a binary install the subcommand; and only the task's
  // type check, never the load, fails on a type error.
  const reloadFailed = rules.slice(rules.indexOf("alert: DynamicExporterModuleReloadFailed"));
  const description = reloadFailed.slice(0, reloadFailed.indexOf("- alert:")).replace(/\s+/g, " ");
  assert.match(
    description,
    /To reproduce it, run `deno task check-module <file>` in the exporter's checkout or `dynamic_exporter check <file>` with the binary\. A type error does not fail the load \(modules run without a type check\); it fails check-module/,
  );
  assert.doesNotMatch(rules, /type error, a failed import/, "the load does not type-check");
  const tests = await Deno.readTextFile(RULES_TEST);
  for (const interval of ['"2x150"', '"86400x30"', '"86400x10"']) {
    assert.ok(tests.includes(`values: ${interval}`), `a case with module interval ${interval}`);
  }
});

const PROBE_CONFIG = `${CONTRIB}probe.yml`;

Deno.test({
  name: "promtool check config accepts the example probe.yml of the multi-target pattern",
  ignore: !hasPromtool,
  async fn() {
    assert.deepEqual(await promtool("check", "config", PROBE_CONFIG), {
      code: 0,
      stdout:
        `Checking ${PROBE_CONFIG}\n SUCCESS: ${PROBE_CONFIG} is valid prometheus config file syntax\n\n`,
      stderr: "",
    });
  },
});

Deno.test("the targets probe.yml lists are ones examples/json_probe.ts accepts", async () => {
  const { targets } = await import("../examples/json_probe.ts");
  const groups = yaml.load(await Deno.readTextFile(`${CONTRIB}targets/json_probe.yml`)) as {
    targets: string[];
  }[];
  const listed = groups.flatMap((g) => g.targets);
  assert.equal(listed.length, 2);
  // As the exporter checks it: the whole target must match.
  const whole = new RegExp(`^(?:${(targets as RegExp).source})$`);
  for (const target of listed) assert.ok(whole.test(target), target);
});
