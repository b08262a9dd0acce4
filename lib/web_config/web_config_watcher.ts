/**
 * Keeps the web config current: re-reads the file and the certificate and key it names when
 * their content changes, so that a rotated certificate or a new user takes effect without a
 * restart. A change that does not load keeps the last good config serving, and so does a
 * change that would lower the protection: a truncated file must not fail open (issue 8).
 */

import { BasicAuth } from "./basic_auth.ts";
import { BcryptQueue } from "./bcrypt_queue.ts";
import type { Logger } from "../log.ts";
import {
  currentFingerprint,
  loadWebConfig,
  type TlsMaterial,
  type WebConfig,
  WebConfigError,
} from "./web_config.ts";
import type { WebPolicy } from "./web_guard.ts";

export interface WebConfigWatcherOptions {
  log: Logger;
  /**
   * How often to compare the files' content, in ms. Default 5000. Polled rather than watched:
   * certificates are often symlinks (certbot, Kubernetes secrets), whose target changes
   * Deno.watchFs does not report.
   */
  pollMs?: number;
  /** Called with the new TLS material when it changed; a throw fails the reload. */
  onTlsChange?: (tls: TlsMaterial | undefined) => Promise<void>;
}

export interface WebConfigStatus {
  lastReloadSuccessful: boolean;
  /** ms since the epoch. */
  lastReloadSuccessAt: number;
}

export class WebConfigWatcher {
  readonly #path: string;
  readonly #log: Logger;
  readonly #onTlsChange: WebConfigWatcherOptions["onTlsChange"];
  #config: WebConfig;
  #policy: WebPolicy;
  #status: WebConfigStatus;
  #generation = 0;
  #lastFailure = "";
  #timer: ReturnType<typeof setInterval> | undefined;
  #checking: Promise<boolean> | undefined;
  /** One bcrypt Worker for every policy this watcher makes. */
  readonly #bcrypt: BcryptQueue;

  private constructor(
    path: string,
    config: WebConfig,
    policy: WebPolicy,
    bcrypt: BcryptQueue,
    options: WebConfigWatcherOptions,
  ) {
    this.#path = path;
    this.#bcrypt = bcrypt;
    this.#log = options.log;
    this.#onTlsChange = options.onTlsChange;
    this.#config = config;
    this.#policy = policy;
    this.#status = { lastReloadSuccessful: true, lastReloadSuccessAt: Date.now() };
    const pollMs = options.pollMs ?? 5000;
    if (pollMs > 0) this.#timer = setInterval(() => this.reload("changed on disk"), pollMs);
  }

  /** Loads the config at `path`; throws WebConfigError when it cannot be used. */
  static async open(path: string, options: WebConfigWatcherOptions): Promise<WebConfigWatcher> {
    const config = await loadWebConfig(path);
    const bcrypt = new BcryptQueue();
    let policy;
    try {
      policy = await policyOf(config, bcrypt);
    } catch (err) {
      bcrypt.close();
      throw err;
    }
    const watcher = new WebConfigWatcher(path, config, policy, bcrypt, options);
    watcher.#logLoaded("web config loaded");
    return watcher;
  }

  get tls(): TlsMaterial | undefined {
    return this.#config.tls;
  }

  /** What the request guard applies now. */
  policy(): WebPolicy {
    return this.#policy;
  }

  status(): WebConfigStatus {
    return this.#status;
  }

  /** Bumps when the status changes. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Re-reads the config and applies it if its content changed. Resolves true when the config
   * now serving is the one on disk.
   */
  reload(reason: string): Promise<boolean> {
    this.#checking ??= this.#reload(reason).finally(() => this.#checking = undefined);
    return this.#checking;
  }

  /** Stops polling and the bcrypt Worker: checks still pending are denied. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#bcrypt.close();
  }

  async #reload(reason: string): Promise<boolean> {
    let applied = false;
    try {
      // The poll's common case, nothing changed, costs three small reads and no parsing.
      const config = await currentFingerprint(this.#config) === this.#config.fingerprint
        ? this.#config
        : await loadWebConfig(this.#path);
      if (config.fingerprint !== this.#config.fingerprint) {
        const weakening = weakeningOf(this.#config, config);
        if (weakening) {
          throw new WebConfigError(
            `--web.config.file "${this.#path}": ${weakening}; refused while running, the previous config keeps serving (restart the exporter to apply it)`,
          );
        }
        const policy = await policyOf(config, this.#bcrypt);
        const tlsChanged = config.tls?.cert !== this.#config.tls?.cert ||
          config.tls?.key !== this.#config.tls?.key;
        if (tlsChanged) await this.#onTlsChange?.(config.tls);
        this.#config = config;
        this.#policy = policy;
        this.#logLoaded("web config reloaded", reason);
        applied = true;
      }
    } catch (err) {
      const message = (err as Error).message;
      // Polling meets the same broken file every few seconds: log each new failure once.
      if (message !== this.#lastFailure) {
        this.#log.error("web config reload failed; the previous config keeps serving", {
          reason,
          err: message,
        });
        this.#lastFailure = message;
      }
      this.#setStatus(false);
      return false;
    }
    this.#lastFailure = "";
    this.#setStatus(true, applied);
    return true;
  }

  #setStatus(successful: boolean, applied = false): void {
    const at = applied ? Date.now() : this.#status.lastReloadSuccessAt;
    if (successful === this.#status.lastReloadSuccessful && at === this.#status.lastReloadSuccessAt) return;
    this.#status = { lastReloadSuccessful: successful, lastReloadSuccessAt: at };
    this.#generation++;
  }

  #logLoaded(message: string, reason?: string): void {
    const { tls, users, headers } = this.#config;
    this.#log.info(message, {
      reason,
      tls: !!tls,
      cert_not_after: tls?.notAfter,
      cert_sha256: tls?.fingerprint,
      basic_auth_users: users.size,
      headers: Object.keys(headers).join(",") || undefined,
    });
  }
}

async function policyOf(config: WebConfig, bcrypt: BcryptQueue): Promise<WebPolicy> {
  return {
    auth: config.users.size > 0 ? await BasicAuth.create(config.users, { bcrypt }) : undefined,
    headers: config.headers,
  };
}

/**
 * Why `next` would serve with less protection than `current`, or undefined. Such a change is
 * more likely a file caught mid-write (`: > web.yml`, a half-copied deploy) or a mistake than
 * an intent, and applying it would expose the port: it only takes effect at a restart.
 */
function weakeningOf(current: WebConfig, next: WebConfig): string | undefined {
  if (next.empty && !current.empty) return "the file is now empty";
  if (current.tls && !next.tls) return "it would turn TLS off";
  if (current.users.size > 0 && next.users.size === 0) return "it would remove every basic auth user";
  return undefined;
}
