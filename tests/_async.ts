/** Test helpers for observing promises without timed sleeps. */

/** Lets promise reactions run, for a bounded number of microtask turns. */
export async function flush(): Promise<void> {
  for (let turn = 0; turn < 50; turn++) await Promise.resolve();
}

export type PromiseState = "pending" | "fulfilled" | "rejected";

/** The state of `promise` once a bounded number of microtask turns have run. */
export async function stateOf(promise: Promise<unknown>): Promise<PromiseState> {
  let state: PromiseState = "pending";
  promise.then(() => state = "fulfilled", () => state = "rejected");
  for (let turn = 0; turn < 50 && state === "pending"; turn++) await Promise.resolve();
  return state;
}
