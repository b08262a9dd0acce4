/**
 * The body of a scrape. Each module's fragment is rendered inside its own try/catch and
 * cached as bytes (and deflated) until that module changes, so a scrape is mostly a
 * memory copy and one bad module drops only its own families. Modules with collect()
 * callbacks render at every scrape.
 *
 * Issue 10, measured at 100k series (one Gauge, two labels; ms on this machine): prom-client's
 * get() 48-62, validating 11-18, formatting 103-135, encoding 3, gzipSync 32-37, all on the
 * event loop after each module run, and the whole body (self-metrics included) rendered and
 * gzipped again every second because the self-metrics change. So:
 * - fragments render, copy and compress in slices (Slicer) of about 2 ms;
 * - the body is [fragments..., self-metrics], and its gzip one stream of the same parts each
 *   deflated on its own (gzip_parts.ts): a self-metrics refresh re-compresses only them;
 * - a fragment, its deflated part and a body are each built once however many scrapes wait,
 *   right after a run (prebuild), and a body whose self-metrics only aged serves until the next
 *   one is ready;
 * - a body is the list of its parts' bytes, sent one after another: never copied together (at
 *   1M series, copying 50 MB at every self-metrics refresh made 30-50 ms stalls with the garbage
 *   collection it caused), so each fragment's bytes are held once. A small body is joined once.
 */

import { within } from "../long_timer.ts";
import { type Format, formatFamilies, type MetricFamily, OPENMETRICS_EOF } from "./format.ts";
import { type DeflatedPart, deflateLastPart, deflatePart, gzipParts } from "./gzip_parts.ts";
import { renderFragment } from "./render_fragment.ts";
import { Slicer } from "./slicer.ts";

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
  /**
   * How long the self-metrics are served before they render again; process_* values are at most
   * this old, plus the time to build the next body (the previous one serves meanwhile). Default 1000.
   */
  maxAgeMs?: number;
  /** How long one fragment may take to render (a collect() callback is module code). Default 5000. */
  renderTimeoutMs?: number;
  /** How long one slice of rendering, copying or compressing may hold the event loop. Default 2. */
  sliceMs?: number;
  /** Build the next body as soon as a module's values change (invalidate), not at the next scrape. Default false. */
  prebuild?: boolean;
}

type Bytes = Uint8Array<ArrayBuffer>;

/** A fragment in one format at one version, with why some families were left out. */
interface FragmentPart {
  bytes: Bytes;
  problem?: string;
  /** Its deflate data (a middle part of a gzip stream), once compressed. */
  deflated?: DeflatedPart;
  deflating?: Promise<DeflatedPart>;
}

/** The self-metrics in one format (with # EOF in OpenMetrics): the end of every body. */
interface SelfPart {
  bytes: Bytes;
  deflated: DeflatedPart;
  version: number;
  at: number;
}

interface Flight {
  version: number;
  promise: Promise<FragmentPart | undefined>;
}

interface Fragment {
  source: FragmentSource;
  /** Kept so that the other format renders without module code; values are read at render. */
  families?: MetricFamily[];
  parts: Partial<Record<Format, FragmentPart>>;
  /** The render in progress per format, shared by every scrape that waits for it. */
  rendering: Partial<Record<Format, Flight>>;
  /** Bumps on invalidate, so a render that was in flight meanwhile is not cached. */
  version: number;
  /** Samples in its families as last rendered (the self-metric module_samples). */
  samples?: number;
  /**
   * A dynamic source's families as its last render read them: what the module page shows, since
   * reading them again would run module code (collect()). A static source keeps `families`.
   */
  rendered?: MetricFamily[];
}

/** What is served under a name now, as the server holds it (Exposition.served). */
export interface Served {
  /** Undefined for a source computed at scrape time that no scrape has rendered yet. */
  families?: MetricFamily[];
  /** Computed at scrape time (a collect() callback): `families` are those of its last render. */
  atScrape: boolean;
}

interface Body {
  /** The fragments' generation it was built from; with `self`, what it is a body of. */
  generation: number;
  /** The non-empty fragments, in order. */
  fragments: FragmentPart[];
  self: SelfPart;
  /** A cached body, for every scrape until a fragment or the self-metrics change. */
  shared: boolean;
  /** The plain parts, in order. */
  plain?: Bytes[];
  /** The gzip stream's parts, in order. */
  gzip?: Bytes[];
  gzipping?: Promise<Bytes[]>;
  /** The encodings scrapes asked this body for: the next body is warmed in those. */
  asked: { plain: boolean; gzip: boolean };
}

const encoder = new TextEncoder();

function countSamples(families: MetricFamily[]): number {
  let n = 0;
  for (const family of families) n += family.values.length;
  return n;
}

export class Exposition {
  readonly #options: ExpositionOptions;
  readonly #fragments = new Map<string, Fragment>();
  readonly #bodies = new Map<Format, Body>();
  /** A body being built to replace one whose self-metrics only aged, per format. */
  readonly #refreshing = new Map<Format, Promise<void>>();
  readonly #selfParts = new Map<Format, SelfPart>();
  #generation = 0;

  constructor(options: ExpositionOptions) {
    this.#options = options;
  }

  /** Serves `source`'s families under its name, replacing what was there. */
  set(source: FragmentSource): void {
    this.#fragments.set(source.name, { source, parts: {}, rendering: {}, version: 0 });
    this.#generation++;
  }

  /** Samples `name` serves, as of its last render; undefined when nothing is served under it. */
  samples(name: string): number | undefined {
    const fragment = this.#fragments.get(name);
    return fragment && (fragment.samples ?? 0);
  }

  /** `name`'s fragment alone, as text; undefined when nothing is served under it or it fails to render. */
  async fragment(name: string, format: Format): Promise<string | undefined> {
    const fragment = this.#fragments.get(name);
    const part = fragment && await this.#part(fragment, format);
    return part && new TextDecoder().decode(part.bytes);
  }

  /**
   * The families served under `name`, as the server holds them; undefined when nothing is served
   * under it. Module code never runs for this: a source computed at scrape time gives the
   * families of its last render.
   */
  async served(name: string): Promise<Served | undefined> {
    const fragment = this.#fragments.get(name);
    if (!fragment) return undefined;
    if (fragment.source.isDynamic()) return { families: fragment.rendered, atScrape: true };
    return {
      families: fragment.families ?? await this.#withinTimeout(fragment.source.families()),
      atScrape: false,
    };
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
    const version = fragment.version;
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
    const fresh = fragment.version === version && !fragment.source.isDynamic();
    this.set({ name, isDynamic: () => false, families: () => Promise.resolve(frozen) });
    // What was rendered from these same values need not be rendered again.
    const next = this.#fragments.get(name)!;
    next.families = frozen;
    next.samples = countSamples(frozen);
    if (fresh) next.parts = { ...fragment.parts };
  }

  delete(name: string): void {
    if (this.#fragments.delete(name)) this.#generation++;
  }

  /** The module's values changed: render its fragment again at the next scrape. */
  invalidate(name: string): void {
    const fragment = this.#fragments.get(name);
    if (!fragment) return;
    fragment.families = undefined;
    fragment.parts = {};
    fragment.version++;
    this.#generation++;
    this.#prebuild();
  }

  /**
   * After a run, builds the next body at once in the formats and encodings scrapes asked for,
   * so that Prometheus' next scrape finds it ready instead of waiting for the render.
   */
  #prebuild(): void {
    if (!this.#options.prebuild) return;
    if ([...this.#fragments.values()].some((f) => f.source.isDynamic())) return;
    for (const [format, previous] of this.#bodies) {
      const { plain, gzip } = previous.asked;
      if (!plain && !gzip) continue;
      (async () => {
        // A macrotask first: the run's own bookkeeping (status, log) goes before the render.
        await new Promise((resolve) => setTimeout(resolve, 0));
        const body = await this.#build(format, undefined, true);
        if (!body.shared) return;
        if (plain) this.#plainOf(body);
        if (gzip) await this.#gzipOf(body);
      })().catch(() => {});
    }
  }

  /**
   * The whole body in `format`, gzipped when asked, as the parts to send in order. A fragment
   * still rendering at `deadline` (a performance.now() time: Prometheus' scrape timeout) is left
   * out, as at renderTimeoutMs.
   */
  async encodeParts(format: Format, gzip: boolean, deadline?: number): Promise<Bytes[]> {
    const body = await this.#body(format, deadline);
    body.asked[gzip ? "gzip" : "plain"] = true;
    return gzip ? await this.#gzipOf(body) : this.#plainOf(body);
  }

  /** The whole body in `format`, gzipped when asked, in one buffer. */
  async encode(format: Format, gzip: boolean, deadline?: number): Promise<Bytes> {
    const parts = await this.encodeParts(format, gzip, deadline);
    return parts.length === 1 ? parts[0] : await new Slicer(this.#sliceOptions).concat(parts);
  }

  /**
   * The body's parts at once when a built body serves it (nothing to render, the encoding
   * already made), so that the common scrape takes no promise at all; undefined otherwise
   * (call encodeParts).
   */
  cached(format: Format, gzip: boolean): Bytes[] | undefined {
    const body = this.#servable(format);
    if (!body || (gzip && !body.gzip)) return undefined;
    body.asked[gzip ? "gzip" : "plain"] = true;
    return gzip ? body.gzip : this.#plainOf(body);
  }

  /** The whole body in `format`, as text. */
  async render(format: Format, deadline?: number): Promise<string> {
    return new TextDecoder().decode(await this.encode(format, false, deadline));
  }

  async #body(format: Format, deadline?: number): Promise<Body> {
    return this.#servable(format) ?? await this.#build(format, deadline, true);
  }

  /** The built body that may serve a scrape now, if any. */
  #servable(format: Format): Body | undefined {
    const cached = this.#bodies.get(format);
    const self = this.#selfParts.get(format);
    if (!cached || !self || cached.generation !== this.#generation || cached.self !== self) return undefined;
    for (const fragment of this.#fragments.values()) if (fragment.source.isDynamic()) return undefined;
    if (this.#fresh(self)) return cached;
    // Only the process_* values aged: serve this body while the next one is built, so that
    // the scrapes of that moment do not wait for it (issue 10: they made the p99).
    if (self.version === this.#options.selfVersion()) {
      this.#refresh(format, cached);
      return cached;
    }
    return undefined;
  }

  /** Builds the body from the fragments' parts (rendered if need be) and fresh self-metrics. */
  async #build(format: Format, deadline: number | undefined, store: boolean): Promise<Body> {
    const generation = this.#generation;
    const fragments = [...this.#fragments.values()];
    const dynamic = fragments.some((f) => f.source.isDynamic());
    // Concurrently, so that one late fragment does not spend the others' share of the deadline.
    const parts = await Promise.all(fragments.map((fragment) => this.#part(fragment, format, deadline)));
    // After the modules' parts: their render errors are in the self-metrics.
    const self = this.#self(format);
    const shared = !dynamic && generation === this.#generation && parts.every((p) => p !== undefined);
    // Scrapes that waited for the same renders share the first one's body.
    const built = this.#bodies.get(format);
    if (shared && built?.generation === generation && built.self === self) return built;
    const body: Body = {
      generation,
      fragments: parts.filter((p) => p !== undefined && p.bytes.length > 0) as FragmentPart[],
      self,
      shared,
      asked: { plain: false, gzip: false },
    };
    if (shared && store) this.#bodies.set(format, body);
    return body;
  }

  /** Builds the next body in the background, in the encodings the current one was asked in, then swaps. */
  #refresh(format: Format, stale: Body): void {
    if (this.#refreshing.has(format)) return;
    const refresh = (async () => {
      const body = await this.#build(format, undefined, false);
      if (!body.shared) return;
      if (stale.asked.plain) this.#plainOf(body);
      if (stale.asked.gzip) await this.#gzipOf(body);
      if (this.#bodies.get(format) === stale && body.generation === this.#generation) {
        this.#bodies.set(format, body);
      }
    })().catch(() => {}).finally(() => this.#refreshing.delete(format));
    this.#refreshing.set(format, refresh);
  }

  /**
   * The plain parts: the fragments' own bytes and the self-metrics, never copied together here
   * (responseBody joins a body up to 1 MiB once, for every response).
   */
  #plainOf(body: Body): Bytes[] {
    return body.plain ??= [...body.fragments.map((p) => p.bytes), body.self.bytes];
  }

  #gzipOf(body: Body): Promise<Bytes[]> {
    if (body.gzip) return Promise.resolve(body.gzip);
    return body.gzipping ??= (async () => {
      // Each fragment is deflated once, for every body it is part of.
      const deflated = await Promise.all(body.fragments.map((part) => this.#deflate(part)));
      body.gzip = gzipParts(deflated, body.self.deflated);
      body.gzipping = undefined;
      return body.gzip;
    })();
  }

  #deflate(part: FragmentPart): Promise<DeflatedPart> {
    if (part.deflated) return Promise.resolve(part.deflated);
    return part.deflating ??= deflatePart(part.bytes, new Slicer(this.#sliceOptions)).then((deflated) => {
      part.deflated = deflated;
      part.deflating = undefined;
      return deflated;
    });
  }

  get #sliceOptions() {
    return { sliceMs: this.#options.sliceMs };
  }

  #fresh(self: SelfPart): boolean {
    return self.version === this.#options.selfVersion() &&
      performance.now() - self.at <= (this.#options.maxAgeMs ?? 1000);
  }

  /** The self-metrics (and OpenMetrics' # EOF), rendered again when they changed or aged. */
  #self(format: Format): SelfPart {
    const cached = this.#selfParts.get(format);
    if (cached && this.#fresh(cached)) return cached;
    const version = this.#options.selfVersion();
    let text = formatFamilies(this.#options.selfFamilies(), format);
    if (format === "openmetrics") text += OPENMETRICS_EOF;
    const bytes = encoder.encode(text);
    // A few KB: compressed at once, so no scrape waits for a slice of it.
    const part: SelfPart = {
      version,
      at: performance.now(),
      bytes,
      deflated: deflateLastPart(bytes),
    };
    this.#selfParts.set(format, part);
    return part;
  }

  async #withinTimeout<T>(promise: Promise<T>, deadline?: number): Promise<T> {
    const ms = this.#options.renderTimeoutMs ?? 5000;
    const left = deadline === undefined ? Infinity : Math.max(0, Math.floor(deadline - performance.now()));
    return await within(promise, Math.min(ms, left), () => new Error(this.#timeoutMessage(left < ms)));
  }

  #timeoutMessage(scrapeTimeout: boolean): string {
    return scrapeTimeout
      ? "metrics did not render within the scrape timeout (X-Prometheus-Scrape-Timeout-Seconds)"
      : `metrics did not render within ${this.#options.renderTimeoutMs ?? 5000}ms`;
  }

  /** The fragment's part in `format`, or undefined when it is left out of this scrape. */
  async #part(fragment: Fragment, format: Format, deadline?: number): Promise<FragmentPart | undefined> {
    // Module code (collect()) runs at every render of a dynamic source: never shared.
    if (fragment.source.isDynamic()) return await this.#render(fragment, format, deadline);
    const cached = fragment.parts[format];
    if (cached) return cached;
    let flight = fragment.rendering[format];
    if (flight?.version !== fragment.version) {
      const promise = this.#render(fragment, format);
      const started: Flight = flight = { version: fragment.version, promise };
      fragment.rendering[format] = started;
      const done = () => {
        if (fragment.rendering[format] === started) delete fragment.rendering[format];
      };
      promise.then(done, done);
    }
    const left = deadline === undefined ? undefined : Math.max(0, Math.floor(deadline - performance.now()));
    if (left === undefined || left >= (this.#options.renderTimeoutMs ?? 5000)) return await flight.promise;
    // This scrape's deadline comes first: leave the fragment out of it, and let the render
    // go on for the scrapes after it.
    try {
      return await within(flight.promise, left, () => new Error(this.#timeoutMessage(true)));
    } catch (err) {
      this.#options.onRender(fragment.source.name, err);
      return undefined;
    }
  }

  async #render(fragment: Fragment, format: Format, deadline?: number): Promise<FragmentPart | undefined> {
    const { name } = fragment.source;
    const version = fragment.version;
    const current = () => fragment.version === version && this.#fragments.get(name) === fragment;
    try {
      let families = fragment.families;
      if (!families || fragment.source.isDynamic()) {
        families = await this.#withinTimeout(fragment.source.families(), deadline);
        if (current() && !fragment.source.isDynamic()) fragment.families = families;
      }
      if (this.#fragments.get(name) === fragment) {
        fragment.samples = countSamples(families);
        if (fragment.source.isDynamic()) fragment.rendered = families;
      }
      const { bytes, problems } = await renderFragment(families, format, new Slicer(this.#sliceOptions));
      // A family that would make the whole body invalid (a `__name__` label, a bad name) is
      // left out, and reported as this module's render error (issue 8 item 8).
      const problem = problems.length > 0 ? `families left out: ${problems.join("; ")}` : undefined;
      const part: FragmentPart = { bytes, problem };
      if (current() && !fragment.source.isDynamic()) fragment.parts[format] = part;
      this.#options.onRender(name, problem === undefined ? undefined : new Error(problem));
      return part;
    } catch (err) {
      if (current()) fragment.families = undefined;
      this.#options.onRender(name, err);
      return undefined;
    }
  }
}
