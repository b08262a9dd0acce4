/**
 * Exact attribution of prom-client metrics to the module that registers them.
 *
 * Modules register on prom-client's default registry, as plain prom-client code does. We wrap
 * that registry's registerMetric: the owner is the AsyncLocalStorage context of the running
 * process() (exact even while other modules run concurrently), or else the module being
 * imported (imports are serialised by a lock, so import-time registration is exact too).
 */

import { AsyncLocalStorage } from "node:async_hooks";

export const RESERVED_PREFIX = "dynamic_exporter_";

/** The part of a prom-client metric we use. */
export interface PromMetric {
  name: string;
  collect?: unknown;
  get(): unknown;
}

/** The part of prom-client's Registry we wrap. */
export interface PromRegistry {
  registerMetric(metric: PromMetric): void;
  removeSingleMetric(name: string): void;
  getSingleMetric(name: string): PromMetric | undefined;
  clear(): void;
}

/** The metrics one loaded version of a module owns, in registration order. */
export class MetricOwner {
  readonly metrics: Map<string, PromMetric> = new Map();
  constructor(readonly module: string) {}
}

export class MetricOwnership {
  readonly #registry: PromRegistry;
  readonly #context = new AsyncLocalStorage<MetricOwner>();
  readonly #ownerOf = new Map<string, MetricOwner>();
  #importing: MetricOwner | undefined;
  #lock: Promise<unknown> = Promise.resolve();
  /** Metrics registered outside any module context: still served, never lost. */
  readonly unowned: MetricOwner = new MetricOwner("");

  readonly #unwrap: () => void;

  /** Wraps `registry` in place until close(). */
  constructor(registry: PromRegistry) {
    this.#registry = registry;
    const original = {
      registerMetric: registry.registerMetric,
      removeSingleMetric: registry.removeSingleMetric,
      clear: registry.clear,
    };
    this.#unwrap = () => Object.assign(registry, original);
    const register = registry.registerMetric.bind(registry);
    const remove = registry.removeSingleMetric.bind(registry);
    registry.registerMetric = (metric: PromMetric) => {
      const owner = this.current() ?? this.unowned;
      const name = metric.name;
      if (name.startsWith(RESERVED_PREFIX)) {
        throw new Error(`metric "${name}" uses the reserved prefix "${RESERVED_PREFIX}"`);
      }
      const existing = registry.getSingleMetric(name);
      if (existing !== undefined && existing !== metric) {
        const holder = this.#ownerOf.get(name);
        throw new Error(
          holder === owner
            ? `metric "${name}" is registered twice by this module; create each metric once, at import`
            : `metric "${name}" is already registered by module "${holder?.module ?? "(unknown)"}"`,
        );
      }
      register(metric);
      owner.metrics.set(name, metric);
      this.#ownerOf.set(name, owner);
    };
    registry.removeSingleMetric = (name: string) => {
      remove(name);
      this.#ownerOf.get(name)?.metrics.delete(name);
      this.#ownerOf.delete(name);
    };
    // A module calling register.clear() must not wipe every other module's metrics.
    registry.clear = () => {
      const owner = this.current();
      if (owner) this.release(owner);
    };
  }

  /** Puts the registry's own methods back. */
  close(): void {
    this.#unwrap();
  }

  /** The owner of the code running now, if any. */
  current(): MetricOwner | undefined {
    return this.#context.getStore() ?? this.#importing;
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

  /** Removes every metric `owner` holds from the registry; the owner keeps the list. */
  release(owner: MetricOwner): void {
    for (const [name, metric] of owner.metrics) {
      if (this.#registry.getSingleMetric(name) === metric) {
        this.#registry.removeSingleMetric(name);
      }
    }
    owner.metrics.clear();
  }

  /** Puts `metrics` back under `owner`, as they were before a failed reload. */
  restore(owner: MetricOwner, metrics: Iterable<[string, PromMetric]>): void {
    for (const [name, metric] of metrics) {
      this.runAs(owner, () => this.#registry.registerMetric(metric));
      owner.metrics.set(name, metric);
    }
  }
}
