/** "met" or "NOT met", then the target: how `deno task bench` prints every figure that has one (issue 21). */
export function verdict(ok: boolean, target: string): string {
  return `${ok ? "met" : "NOT met"} (target ${target})`;
}
