/** Test helpers for Prometheus' own tools, which .ci/run installs (apt-get install prometheus). */

/** True when `command --version` runs. */
export async function hasCommand(command: string): Promise<boolean> {
  try {
    const { code } = await new Deno.Command(command, { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
    return code === 0;
  } catch {
    return false;
  }
}

/** Pipes `body` through `promtool check metrics`. */
export async function promtoolCheck(body: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command("promtool", {
    args: ["check", "metrics"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(body));
  await writer.close();
  const { code, stdout, stderr } = await child.output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}
