/** HTTP basic auth against bcrypt hashes, as exporter-toolkit does it. */

import { createHash, randomBytes } from "node:crypto";
import type { BcryptQueue } from "./bcrypt_queue.ts";

export interface BasicAuthOptions {
  /** Runs bcrypt off the main thread; shared by every BasicAuth the web config makes. */
  bcrypt: BcryptQueue;
  /** How many successful (user, password) checks to remember. Default 256. */
  cacheSize?: number;
}

/**
 * `ok`: a configured user with its password. `denied`: anything else. `busy`: not checked,
 * because too many checks are pending (a flood of guesses); the client may retry.
 */
export type AuthResult = "ok" | "denied" | "busy";

/** The `(user, password)` of an `Authorization: Basic` header, or undefined if malformed. */
export function parseBasicAuth(header: string | null): { user: string; password: string } | undefined {
  const match = header === null ? null : /^Basic +([A-Za-z0-9+/]+=*) *$/i.exec(header);
  if (!match) return undefined;
  let decoded: string;
  try {
    decoded = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(match[1]), (c) => c.charCodeAt(0)),
    );
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The bcrypt cost most of the hashes use (the highest among equals). */
function usualCost(hashes: Iterable<string>): number {
  const counts = new Map<number, number>();
  for (const hash of hashes) {
    const cost = Number(hash.split("$")[2]);
    counts.set(cost, (counts.get(cost) ?? 0) + 1);
  }
  let best = 10;
  let bestCount = 0;
  for (const [cost, count] of counts) {
    if (count > bestCount || (count === bestCount && cost > best)) [best, bestCount] = [cost, count];
  }
  return best;
}

export class BasicAuth {
  readonly #users: ReadonlyMap<string, string>;
  readonly #dummyHash: string;
  readonly #bcrypt: BcryptQueue;
  readonly #cacheSize: number;
  /** Digests of (user, password, hash) that verified; Map order gives least recently used first. */
  readonly #verified = new Map<string, true>();

  private constructor(users: ReadonlyMap<string, string>, dummyHash: string, options: BasicAuthOptions) {
    this.#users = users;
    this.#dummyHash = dummyHash;
    this.#bcrypt = options.bcrypt;
    this.#cacheSize = options.cacheSize ?? 256;
  }

  /**
   * An authenticator for `users` (name to bcrypt hash). It makes a dummy hash of the usual cost
   * first, so that an unknown user costs the same bcrypt work as a wrong password.
   */
  static async create(users: ReadonlyMap<string, string>, options: BasicAuthOptions): Promise<BasicAuth> {
    const dummy = await options.bcrypt.hash(randomBytes(16).toString("hex"), usualCost(users.values()));
    return new BasicAuth(users, dummy, options);
  }

  /** True when `header` carries a configured user and that user's password. */
  async check(header: string | null): Promise<boolean> {
    return await this.verify(header) === "ok";
  }

  /**
   * Checks `header`. A credential that verified before is answered from the cache on the
   * calling thread, at once, whatever is queued; anything else waits for the bcrypt Worker.
   */
  async verify(header: string | null): Promise<AuthResult> {
    const credentials = parseBasicAuth(header);
    if (!credentials) return "denied";
    const { user, password } = credentials;
    const known = this.#users.get(user);
    const hash = known ?? this.#dummyHash;
    const key = createHash("sha256").update(`${user}\0${password}\0${hash}`).digest("base64");
    if (known !== undefined && this.#verified.delete(key)) {
      this.#verified.set(key, true);
      return "ok";
    }
    let match;
    try {
      match = await this.#bcrypt.compare(password, hash);
    } catch {
      return "denied"; // the queue closed (shutdown) or its Worker failed: fail closed
    }
    if (match === "busy") return "busy";
    if (!match || known === undefined) return "denied";
    this.#verified.set(key, true);
    if (this.#verified.size > this.#cacheSize) this.#verified.delete(this.#verified.keys().next().value!);
    return "ok";
  }
}
