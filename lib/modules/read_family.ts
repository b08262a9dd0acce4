/**
 * prom-client 15's Gauge and Counter get() is `Object.values(this.hashMap)`, and V8 is slow at
 * that on a big dictionary: 50-85 ms for 100k series (760 ms for 1M), in one step on the
 * event loop at every render after a run (issue 10; the profile's largest single item).
 * Object.keys() is no better than a third of it (14-27 ms for 100k, 270 ms for 1M): V8 sorts a
 * dictionary's keys by insertion at every call, and it cannot be sliced.
 *
 * So each hashMap's keys are listed once, when the metric registers (followKeys: its map is
 * new then, so there is next to nothing to list) or else at its first read, and the keys it
 * gains later are caught as they are added: the map's prototype becomes a Proxy whose `set`
 * trap sees only the keys the map does not have yet (a store to an existing key never reaches
 * the prototype).
 * A read is then one lookup per known key (4-11 ms for 100k series), done in slices of a few ms
 * with the event loop free in between; the module's next run waits for the read to end
 * (in_process_host.ts), so a read never mixes two runs. A key prom-client deleted (`remove()`)
 * is found missing at the next read and forgotten. `reset()` gives the metric a new map, followed
 * at once.
 */

import { Counter, Gauge } from "prom-client";
import type { MetricFamily } from "../exposition/format.ts";
import { Slicer } from "../exposition/slicer.ts";

interface PromInternals {
  name: string;
  help: string;
  type: string;
  aggregator?: string;
  collect?: unknown;
  hashMap?: unknown;
  get(): unknown;
}

type Sample = MetricFamily["values"][number];
type HashMap = Record<string, Sample>;

/** Every hashMap read so far, with its keys in the order they were added. */
const keysByMap = new WeakMap<object, Set<string>>();

/** The keys of `map`, listed at its first read and kept up to date from then on. */
function keysOf(map: HashMap): Set<string> {
  let keys = keysByMap.get(map);
  if (keys) return keys;
  const known = keys = new Set(Object.keys(map));
  // Only a key the map does not have yet is looked up on its prototype: the trap sees additions
  // and nothing else. Reflect.set with the map as receiver then defines the key on the map, as a
  // store to a plain object would; the target's Object.prototype keeps the map's methods.
  const catchAdditions = new Proxy({}, {
    set(target, key, value, receiver) {
      if (typeof key === "string") known.add(key);
      return Reflect.set(target, key, value, receiver);
    },
  });
  // A map the module froze or sealed keeps its prototype: list its keys at every read instead.
  if (!Reflect.setPrototypeOf(map, catchAdditions)) return known;
  keysByMap.set(map, known);
  return known;
}

/** Metrics whose reset() follows the new map. */
const following = new WeakSet<object>();

/**
 * Starts following `metric`'s keys now, while its map is new (ownership calls this when the
 * metric registers, which prom-client does in its constructor), and every map its reset()
 * makes from then on: a first read then lists nothing. Listing at the first read took 14-27
 * ms at 100k series (270 ms at 1M) in one step, after a module's first run and after every
 * reset() (issue 10). Anything else than a prom-client Gauge or Counter is left alone.
 */
export function followKeys(metric: unknown): void {
  if (!(metric instanceof Gauge || metric instanceof Counter) || following.has(metric)) return;
  const m = metric as unknown as PromInternals & { reset: (...args: unknown[]) => unknown };
  const follow = () => {
    const map = m.hashMap;
    if (typeof map === "object" && map !== null && Object.getPrototypeOf(map) === Object.prototype) {
      keysOf(map as HashMap);
    }
  };
  follow();
  const reset = m.reset;
  if (typeof reset !== "function") return;
  following.add(metric);
  // On the instance and not enumerable: the class, and what the module sees of the metric, stay.
  Object.defineProperty(metric, "reset", {
    configurable: true,
    writable: true,
    value: function (this: unknown, ...args: unknown[]) {
      const result = reset.apply(this, args);
      follow();
      return result;
    },
  });
}

/** Keys looked up between two checks of the slice's clock. */
const KEYS_PER_CHECK = 1024;

/**
 * `metric`'s family as its get() would give it, read faster and in slices, when it is a
 * prom-client Gauge or Counter whose get() is prom-client's own and has no collect() to run;
 * otherwise undefined (call get()).
 */
export async function readFamily(metric: unknown, slicer = new Slicer()): Promise<MetricFamily | undefined> {
  const m = metric as PromInternals;
  const own = (m instanceof Gauge && m.get === Gauge.prototype.get) ||
    (m instanceof Counter && m.get === Counter.prototype.get);
  if (!own || m.collect !== undefined) return undefined;
  const hashMap = m.hashMap;
  if (
    typeof hashMap !== "object" || hashMap === null ||
    (Object.getPrototypeOf(hashMap) !== Object.prototype && !keysByMap.has(hashMap))
  ) {
    return undefined;
  }
  const map = hashMap as HashMap;
  const keys = keysOf(map);
  const values = new Array<Sample>(keys.size);
  let count = 0;
  let looked = 0;
  // A Set's iteration is live: a key deleted meanwhile is skipped, one added is visited.
  for (const key of keys) {
    // Every prom-client hash has a ":" or is "", so none is found on Object.prototype.
    const sample = map[key];
    if (sample === undefined) keys.delete(key);
    else values[count++] = sample;
    if (++looked % KEYS_PER_CHECK === 0 && slicer.due) await slicer.pause();
  }
  values.length = count;
  return {
    name: m.name,
    help: m.help,
    type: m.type as MetricFamily["type"],
    values,
    ...(m.aggregator === undefined ? {} : { aggregator: m.aggregator }),
  } as MetricFamily;
}
