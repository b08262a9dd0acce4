/**
 * The body of a scrape. Each module's fragment is rendered inside its own try/catch and
 * cached until that module changes, so a scrape is mostly a memory copy and one bad module
 * drops only its own families. Modules with collect() callbacks render at every scrape.
 */

import { gzipSync } from "node:zlib";
import { within } from "../long_timer.ts";
import { type Format, formatFamilies, type MetricFamily, OPENMETRICS_EOF, validateFamily } from "./format.ts";

/** Where a fragment's families come from: a loaded module, or the unowned metrics. */
export interface FragmentSource {
  readonly name: string;
  isDynamic(): boolean;
  families(): Promise<MetricFamily[]>;
}

export interface ExpositionOptions {
  /** The exporter's own families, rendered after the modules' (so they see render errors). */
  selfFamilies(): MetricFamily[];
  /** Changes whenever anything `selfFamilies` reads has changed. */
  selfVersion(): number;
  /** A module's families failed to render (err) or rendered again (undefined). */
  onRender(name: string, err?: unknown): void;
  /** How long a whole body may be served from cache; it bounds the age of process_* values. Default 1000. */
  maxAgeMs?: number;
  /** How long one fragment may take to render (a collect() callback is module code). Default 5000. */
  renderTimeoutMs?: number;
}

interface Fragment {
  source: FragmentSource;
  families?: MetricFamily[];
  /** Why some of the source's families were left out of `families`. */
  problem?: string;
  text: Partial<Record<Format, string>>;
  /** Bumps on invalidate, so a render that was in flight meanwhile is not cached. */
  version: number;
}

interface Body {
  key: string;
  at: number;
  bytes: Bytes;
  gzip?: Bytes;
}

const encoder = new TextEncoder();

type Bytes = Uint8Array<ArrayBuffer>;

export class Exposition {
  readonly #options: ExpositionOptions;
  readonly #fragments = new Map<string, Fragment>();
  readonly #bodies = new Map<Format, Body>();
  #generation = 0;

  constructor(options: ExpositionOptions) {
    this.#options = options;
  }

  /** Serves `source`'s families under its name, replacing what was there. */
  set(source: FragmentSource): void {
    this.#fragments.set(source.name, { source, text: {}, version: 0 });
    this.#generation++;
  }

  /** True while something is served under `name`. */
  has(name: string): boolean {
    return this.#fragments.has(name);
  }

  /**
   * Keeps serving `name`'s families as they are now, detached from its source (whose metrics
   * are about to be released by a reload), until set() or delete(). A fragment that cannot
   * render now is dropped, as it would be left out of a scrape anyway.
   */
  async freeze(name: string): Promise<void> {
    const fragment = this.#fragments.get(name);
    if (!fragment) return;
    let families = fragment.families;
    if (!families || fragment.source.isDynamic()) {
      try {
        families = await this.#withinTimeout(fragment.source.families());
      } catch {
        if (this.#fragments.get(name) === fragment) this.delete(name);
        return;
      }
    }
    if (this.#fragments.get(name) !== fragment) return;
    const frozen = families;
    this.set({ name, isDynamic: () => false, families: () => Promise.resolve(frozen) });
  }

  delete(name: string): void {
    if (this.#fragments.delete(name)) this.#generation++;
  }

  /** The module's values changed: render its fragment again at the next scrape. */
  invalidate(name: string): void {
    const fragment = this.#fragments.get(name);
    if (!fragment) return;
    fragment.families = undefined;
    fragment.text = {};
    fragment.version++;
    this.#generation++;
  }

  /**
   * The whole body in `format`, gzipped when asked. A fragment still rendering at `deadline`
   * (a performance.now() time: Prometheus' scrape timeout) is left out, as at renderTimeoutMs.
   */
  async encode(format: Format, gzip: boolean, deadline?: number): Promise<Bytes> {
    const dynamic = [...this.#fragments.values()].some((f) => f.source.isDynamic());
    const key = `${this.#generation}:${this.#options.selfVersion()}`;
    const now = performance.now();
    let body = this.#bodies.get(format);
    if (dynamic || !body || body.key !== key || now - body.at > (this.#options.maxAgeMs ?? 1000)) {
      body = { key, at: now, bytes: encoder.encode(await this.render(format, deadline)) };
      this.#bodies.set(format, body);
    }
    if (!gzip) return body.bytes;
    return body.gzip ??= new Uint8Array(gzipSync(body.bytes));
  }

  /** Renders the whole body in `format`, using cached fragments where valid. */
  async render(format: Format, deadline?: number): Promise<string> {
    // Concurrently, so that one late fragment does not spend the others' share of the deadline.
    const parts = await Promise.all(
      [...this.#fragments.values()].map((fragment) => this.#renderFragment(fragment, format, deadline)),
    );
    parts.push(formatFamilies(this.#options.selfFamilies(), format));
    if (format === "openmetrics") parts.push(OPENMETRICS_EOF);
    return parts.join("");
  }

  async #withinTimeout<T>(promise: Promise<T>, deadline?: number): Promise<T> {
    const ms = this.#options.renderTimeoutMs ?? 5000;
    const left = deadline === undefined ? Infinity : Math.max(0, Math.floor(deadline - performance.now()));
    const message = left < ms
      ? "metrics did not render within the scrape timeout (X-Prometheus-Scrape-Timeout-Seconds)"
      : `metrics did not render within ${ms}ms`;
    return await within(promise, Math.min(ms, left), () => new Error(message));
  }

  async #renderFragment(fragment: Fragment, format: Format, deadline?: number): Promise<string> {
    const cached = fragment.text[format];
    if (cached !== undefined && !fragment.source.isDynamic()) return cached;
    const { name } = fragment.source;
    const version = fragment.version;
    try {
      let families = fragment.families;
      let problem = fragment.problem;
      if (!families || fragment.source.isDynamic()) {
        // A family that would make the whole body invalid (a `__name__` label, a bad name) is
        // left out, and reported as this module's render error (issue 8 item 8).
        const problems: string[] = [];
        families = (await this.#withinTimeout(fragment.source.families(), deadline)).filter((family) => {
          const p = validateFamily(family);
          if (p !== undefined) problems.push(p);
          return p === undefined;
        });
        problem = problems.length > 0 ? `families left out: ${problems.join("; ")}` : undefined;
        if (fragment.version === version) {
          fragment.families = families;
          fragment.problem = problem;
          fragment.text = {};
        }
      }
      const text = formatFamilies(families, format);
      if (fragment.version === version) fragment.text[format] = text;
      this.#options.onRender(name, problem === undefined ? undefined : new Error(problem));
      return text;
    } catch (err) {
      if (fragment.version === version) {
        fragment.families = undefined;
        fragment.text = {};
      }
      this.#options.onRender(name, err);
      return "";
    }
  }
}
