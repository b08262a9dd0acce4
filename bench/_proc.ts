/**
 * What `deno task bench` reads of a server and its module hosts from /proc: through `cat` and
 * `ps` children, because Deno reads nothing under /proc without --allow-all.
 */

/** One process of a tree, named for a table. */
export interface TreeProcess {
  pid: number;
  /** "server" for the root, a module host's `--name=` ("shared", or its module), else argv[0]'s base name. */
  name: string;
}

async function output(command: string, args: string[]): Promise<string | undefined> {
  const { stdout, success } = await new Deno.Command(command, { args, stdout: "piped", stderr: "null" })
    .output();
  return success ? new TextDecoder().decode(stdout) : undefined;
}

/** `pid` and every living descendant of it (a server's hosts, nginx's worker), root first. */
export async function processTree(pid: number, rootName = "server"): Promise<TreeProcess[]> {
  const table = await output("ps", ["-eo", "pid=,ppid=,args="]) ?? "";
  const rows: { pid: number; ppid: number; args: string }[] = [];
  for (const line of table.split("\n")) {
    const match = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line);
    if (match) rows.push({ pid: Number(match[1]), ppid: Number(match[2]), args: match[3] });
  }
  const name = (args: string) => /--name=(\S+)/.exec(args)?.[1] ?? args.split(" ")[0].split("/").pop() ?? "?";
  const out: TreeProcess[] = [{ pid, name: rootName }];
  for (let i = 0; i < out.length; i++) {
    for (const row of rows) if (row.ppid === out[i].pid) out.push({ pid: row.pid, name: name(row.args) });
  }
  return out;
}

/** RSS and PSS of `pid` in bytes, from /proc/<pid>/smaps_rollup; undefined once it is gone. */
export async function memoryOf(pid: number): Promise<{ rss: number; pss: number } | undefined> {
  const rollup = await output("cat", [`/proc/${pid}/smaps_rollup`]);
  if (rollup === undefined) return undefined;
  const kb = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? NaN) * 1024;
  return { rss: kb("Rss"), pss: kb("Pss") };
}

/** Linux's USER_HZ, the unit of /proc/<pid>/stat's times: 100 on every mainstream architecture. */
const CLOCK_TICKS = 100;

/**
 * The CPU time, user and system, all threads, that the tree under `pid` has used, in
 * microseconds: each living process's own, plus what its children that exited and were reaped
 * had used (cutime, cstime), so a host that restarts during a measurement is still counted.
 */
export async function treeCpuUs(pid: number): Promise<number> {
  let ticks = 0;
  for (const process of await processTree(pid)) {
    const stat = await output("cat", [`/proc/${process.pid}/stat`]);
    if (stat === undefined) continue;
    // The fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
  }
  return ticks * 1e6 / CLOCK_TICKS;
}
