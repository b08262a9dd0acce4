/**
 * The Worker that runs bcrypt for lib/bcrypt_queue.ts, off the main thread: a check costs tens
 * to hundreds of ms of CPU, and on the event loop a flood of wrong passwords delayed every
 * scrape by seconds (issue 8, item 13). One message at a time, answered in order.
 *
 * `deno compile` does not embed worker scripts on its own: the compile task names this file
 * with `--include`.
 */

import bcrypt from "bcryptjs";
import type { BcryptReply, BcryptRequest } from "./bcrypt_queue.ts";

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<BcryptRequest>) => void) | null;
  postMessage(message: BcryptReply): void;
};

scope.onmessage = ({ data }) => {
  try {
    const result = data.op === "compare"
      ? bcrypt.compareSync(data.password, data.hash)
      : bcrypt.hashSync(data.password, data.cost);
    scope.postMessage({ id: data.id, result });
  } catch (err) {
    scope.postMessage({ id: data.id, error: err instanceof Error ? err.message : String(err) });
  }
};
