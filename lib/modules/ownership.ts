/**
 * Exact attribution of prom-client metrics to the module that registers them, and the walls
 * between modules.
 *
 * Modules register on prom-client's default registry, as plain prom-client code does. We take
 * that registry over: the owner is the AsyncLocalStorage context of the running process(),
 * dispose() or collect() (exact even while other modules run concurrently), or else the module
 * being imported (imports are serialised by a lock, so import-time registration is exact too).
 *
 * An owner holds the names its metrics serve in either format (a Counter `x` serves `x_total`,
 * a Histogram `x` serves `x_bucket`...), so no two families in a body share a name (issue 8
 * item 9). Every registry method a module can call sees only its own metrics (item 11): the
 * exporter reads the owners' maps, never the registry.
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { Counter, Gauge, Histogram, Summary } from "prom-client";
import {
  METRIC_TYPES,
  type MetricFamily,
  type MetricType,
  servedNames,
  validateLabelName,
  validateMetricName,
} from "../exposition/format.ts";
import { followKeys, readFamily } from "./read_family.ts";
import { Slicer } from "../exposition/slicer.ts";

export const RESERVED_PREFIX = "dynamic_exporter_";

/** The part of a prom-client metric we use. */
export interface PromMetric {
  name: string;
  labelNames?: unknown;
  collect?: unknown;
  get(): unknown;
  reset?(): void;
}

/** The part of prom-client's Registry we take over. */
export interface PromRegistry {
  registerMetric(metric: PromMetric): void;
  removeSingleMetric(name: string): void;
  getSingleMetric(name: string): PromMetric | undefined;
  getMetricsAsArray(): PromMetric[];
  resetMetrics(): void;
  clear(): void;
  /** prom-client's store, which its other methods (metrics(), getMetricsAsJSON()...) read. */
  _metrics: Record<string, PromMetric>;
}

/** The metrics one loaded version of a module owns, in registration order. */
export class MetricOwner {
  readonly metrics: Map<string, PromMetric> = new Map();
  constructor(readonly module: string) {}
}

export interface OwnershipOptions {
  /** Families the exporter serves itself: no module may serve their names. Default: none. */
  reserved?: Iterable<{ name: string; type: MetricType }>;
}

interface Holder {
  owner: MetricOwner;
  name: string;
  metric: PromMetric;
}

/** A taken-over registry method, on the registry instance so that close() can delete it. */
const METHODS = [
  "registerMetric",
  "removeSingleMetric",
  "getSingleMetric",
  "getMetricsAsArray",
  "resetMetrics",
  "clear",
] as const;

function typeOf(metric: PromMetric): MetricType | undefined {
  // prom-client sets `type` after registering, so ask the class.
  if (metric instanceof Counter) return "counter";
  if (metric instanceof Gauge) return "gauge";
  if (metric instanceof Histogram) return "histogram";
  if (metric instanceof Summary) return "summary";
  // A placeholder in the server for a metric that lives in a module host says its type.
  const declared = (metric as { type?: unknown }).type;
  return METRIC_TYPES.includes(declared as MetricType) ? declared as MetricType : undefined;
}

export class MetricOwnership {
  readonly #registry: PromRegistry;
  /** prom-client's own store of every registered metric. */
  readonly #store: Record<string, PromMetric>;
  readonly #context = new AsyncLocalStorage<MetricOwner>();
  readonly #ownerOf = new Map<string, MetricOwner>();
  /** Served name -> the metric that serves it. */
  readonly #servedBy = new Map<string, Holder>();
  /** What each registered metric may serve, fixed when it registered (it may rename itself later). */
  readonly #reservations = new WeakMap<PromMetric, string[]>();
  readonly #reserved: Set<string>;
  readonly #retired = new WeakSet<MetricOwner>();
  #importing: MetricOwner | undefined;
  #lock: Promise<unknown> = Promise.resolve();
  /** Metrics registered outside any module context: still served, never lost. */
  readonly unowned: MetricOwner = new MetricOwner("");

  /** Takes `registry` over in place until close(). */
  constructor(registry: PromRegistry, options: OwnershipOptions = {}) {
    if (Object.getOwnPropertyDescriptor(registry, "_metrics")?.get) {
      throw new Error("the registry is already taken over by another MetricOwnership; close() it first");
    }
    this.#registry = registry;
    this.#store = registry._metrics;
    this.#reserved = new Set([...options.reserved ?? []].flatMap((f) => servedNames(f.name, f.type)));
    const scope = (): MetricOwner => this.current() ?? this.unowned;
    const methods: Pick<PromRegistry, typeof METHODS[number]> = {
      registerMetric: (metric) => this.#register(scope(), metric),
      // Another module's metric is not there, as far as this module can tell.
      removeSingleMetric: (name) => {
        if (this.#ownerOf.get(name) === scope()) this.#remove(name);
      },
      getSingleMetric: (name) => scope().metrics.get(name),
      getMetricsAsArray: () => [...scope().metrics.values()],
      resetMetrics: () => {
        for (const metric of scope().metrics.values()) metric.reset?.();
      },
      // A module calling register.clear() must not wipe every other module's metrics.
      clear: () => this.release(scope()),
    };
    Object.assign(registry, methods);
    // prom-client's other methods read `_metrics`: they too see the caller's own metrics only.
    Object.defineProperty(registry, "_metrics", {
      configurable: true,
      get: () => Object.assign(Object.create(null), Object.fromEntries(scope().metrics)),
      set: () => {},
    });
  }

  /** Gives the registry its own methods and store back. */
  close(): void {
    for (const method of METHODS) delete (this.#registry as unknown as Record<string, unknown>)[method];
    delete (this.#registry as { _metrics?: unknown })._metrics;
    this.#registry._metrics = this.#store;
  }

  /** The owner of the code running now, if any. */
  current(): MetricOwner | undefined {
    return this.#context.getStore() ?? this.#importing;
  }

  /** The metric registered under `name`, whoever owns it; for the exporter and tests. */
  registered(name: string): PromMetric | undefined {
    return this.#store[name];
  }

  /** Runs `fn` with registrations attributed to `owner`. */
  runAs<T>(owner: MetricOwner, fn: () => T): T {
    return this.#context.run(owner, fn);
  }

  /** Runs `load` (an import) alone, with registrations attributed to `owner`. */
  importAs<T>(owner: MetricOwner, load: () => Promise<T>): Promise<T> {
    const result = this.#lock.then(async () => {
      this.#importing = owner;
      try {
        return await this.runAs(owner, load);
      } finally {
        this.#importing = undefined;
      }
    });
    this.#lock = result.catch(() => {});
    return result;
  }

  /**
   * Reads every metric of `owner` (its collect() runs as `owner`); rejects if one fails, or if
   * one renders a family that would serve a name it did not register.
   */
  async families(owner: MetricOwner): Promise<MetricFamily[]> {
    const families: MetricFamily[] = [];
    const slicer = new Slicer();
    for (const [name, metric] of [...owner.metrics]) {
      const family = await readFamily(metric, slicer) ??
        await this.runAs(owner, () => metric.get()) as MetricFamily;
      const allowed = this.#reservations.get(metric) ?? [];
      // A family with an invalid name or type is left out by the exposition, which says why.
      const valid = validateMetricName(family?.name) === undefined && METRIC_TYPES.includes(family.type);
      const foreign = valid
        ? servedNames(family.name, family.type).find((n) => !allowed.includes(n))
        : undefined;
      if (foreign !== undefined) {
        throw new Error(
          `metric "${name}" rendered a family ${JSON.stringify(family?.name)} that serves ${
            JSON.stringify(foreign)
          }, a name it did not register`,
        );
      }
      families.push(family);
    }
    return families;
  }

  /** Removes every metric `owner` holds from the registry; the owner keeps the list. */
  release(owner: MetricOwner): void {
    for (const [name, metric] of owner.metrics) {
      if (this.#store[name] === metric) this.#remove(name);
    }
    owner.metrics.clear();
  }

  /**
   * The version is gone: removes its metrics, including those its dispose() or an abandoned
   * run registered, and refuses any it registers later.
   */
  retire(owner: MetricOwner): void {
    this.#retired.add(owner);
    this.release(owner);
  }

  /** Registers `metric` under `owner`, as if the module had (a sandboxed module's placeholder). */
  registerAs(owner: MetricOwner, metric: PromMetric): void {
    this.#register(owner, metric);
  }

  /** Removes `owner`'s metric `name`, if it holds one. */
  releaseOne(owner: MetricOwner, name: string): void {
    if (this.#ownerOf.get(name) === owner) this.#remove(name);
  }

  /** Puts `metrics` back under `owner`, as they were before a failed reload. */
  restore(owner: MetricOwner, metrics: Iterable<[string, PromMetric]>): void {
    for (const [, metric] of metrics) this.#register(owner, metric);
  }

  #register(owner: MetricOwner, metric: PromMetric): void {
    const name = metric?.name;
    if (typeof name !== "string") throw new Error(`a metric must have a name, not ${JSON.stringify(name)}`);
    if (this.#retired.has(owner)) {
      throw new Error(
        `metric "${name}" cannot be registered: this version of module "${owner.module}" is retired`,
      );
    }
    if (name.startsWith(RESERVED_PREFIX)) {
      throw new Error(`metric "${name}" uses the reserved prefix "${RESERVED_PREFIX}"`);
    }
    const invalid = validateMetricName(name) ??
      (Array.isArray(metric.labelNames) ? metric.labelNames : []).map(validateLabelName).find((p) => p);
    if (invalid !== undefined) throw new Error(`metric "${name}": ${invalid}`);
    const existing = this.#store[name];
    if (existing === metric) return;
    if (existing !== undefined) {
      const holder = this.#ownerOf.get(name);
      throw new Error(
        holder === owner
          ? `metric "${name}" is registered twice by this module; create each metric once, at import`
          : `metric "${name}" is already registered by module "${holder?.module ?? "(unknown)"}"`,
      );
    }
    const served = servedNames(name, typeOf(metric));
    for (const s of served) {
      if (s.startsWith(RESERVED_PREFIX)) {
        throw new Error(
          `metric "${name}" would serve "${s}", which uses the reserved prefix "${RESERVED_PREFIX}"`,
        );
      }
      if (this.#reserved.has(s)) {
        throw new Error(`metric "${name}" would serve "${s}", which the exporter serves itself`);
      }
      const holder = this.#servedBy.get(s);
      if (holder) {
        const whose = holder.owner === owner ? "this module's" : `module "${holder.owner.module}"'s`;
        throw new Error(`metric "${name}" would serve "${s}", which ${whose} metric "${holder.name}" serves`);
      }
    }
    this.#store[name] = metric;
    owner.metrics.set(name, metric);
    this.#ownerOf.set(name, owner);
    this.#reservations.set(metric, served);
    for (const s of served) this.#servedBy.set(s, { owner, name, metric });
    // Now, while its map is new: the first read after a run then has no keys to list.
    followKeys(metric);
  }

  #remove(name: string): void {
    const metric = this.#store[name];
    delete this.#store[name];
    this.#ownerOf.get(name)?.metrics.delete(name);
    this.#ownerOf.delete(name);
    for (const s of this.#reservations.get(metric) ?? []) {
      if (this.#servedBy.get(s)?.metric === metric) this.#servedBy.delete(s);
    }
  }
}
