/**
 * The body of a scrape. Each module's fragment is rendered inside its own try/catch and
 * cached until that module changes, so a scrape is mostly a memory copy and one bad module
 * drops only its own families. Modules with collect() callbacks render at every scrape.
 */

import { gzipSync } from "node:zlib";
import { type Format, formatFamilies, type MetricFamily, OPENMETRICS_EOF } from "./format.ts";

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

  /** The whole body in `format`, gzipped when asked. */
  async encode(format: Format, gzip: boolean): Promise<Bytes> {
    const dynamic = [...this.#fragments.values()].some((f) => f.source.isDynamic());
    const key = `${this.#generation}:${this.#options.selfVersion()}`;
    const now = performance.now();
    let body = this.#bodies.get(format);
    if (dynamic || !body || body.key !== key || now - body.at > (this.#options.maxAgeMs ?? 1000)) {
      body = { key, at: now, bytes: encoder.encode(await this.render(format)) };
      this.#bodies.set(format, body);
    }
    if (!gzip) return body.bytes;
    return body.gzip ??= new Uint8Array(gzipSync(body.bytes));
  }

  /** Renders the whole body in `format`, using cached fragments where valid. */
  async render(format: Format): Promise<string> {
    const parts: string[] = [];
    for (const fragment of this.#fragments.values()) {
      parts.push(await this.#renderFragment(fragment, format));
    }
    parts.push(formatFamilies(this.#options.selfFamilies(), format));
    if (format === "openmetrics") parts.push(OPENMETRICS_EOF);
    return parts.join("");
  }

  async #withinTimeout<T>(promise: Promise<T>): Promise<T> {
    const ms = this.#options.renderTimeoutMs ?? 5000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`metrics did not render within ${ms}ms`)), ms);
    });
    try {
      return await Promise.race([promise, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async #renderFragment(fragment: Fragment, format: Format): Promise<string> {
    const cached = fragment.text[format];
    if (cached !== undefined && !fragment.source.isDynamic()) return cached;
    const { name } = fragment.source;
    const version = fragment.version;
    try {
      let families = fragment.families;
      if (!families || fragment.source.isDynamic()) {
        families = await this.#withinTimeout(fragment.source.families());
        if (fragment.version === version) {
          fragment.families = families;
          fragment.text = {};
        }
      }
      const text = formatFamilies(families, format);
      if (fragment.version === version) fragment.text[format] = text;
      this.#options.onRender(name);
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
