/**
 * A module's families cross from its host process in pages, each asked for once the last
 * one has arrived (issue 10). The receiving thread deserializes a message in one step: after
 * every run of a 100k-series module that was 45-55 ms on the exporter's event loop
 * (profile: `deserialize` under the Worker's message dispatch), 50-100 ms stalls a second under
 * wrk. Splitting the families into several messages posted at once does not help: they are all
 * dispatched in one go (measured: 100k series in messages of 500 to 10,000 samples still held
 * the loop 35-95 ms). Asked for one at a time, a page is at most PAGE_SAMPLES samples to
 * deserialize, and the event loop serves requests and timers while the next one comes.
 *
 * The host runs the module's code: everything in a page is checked here, and a page that is not one
 * fails the run, as a bad result does.
 */

import type { MetricFamily, Sample } from "../exposition/format.ts";

/** Samples in one page: about 1 ms to deserialize (100k series took 45-55 ms in one message). */
export const PAGE_SAMPLES = 2000;

/** Where a page starts: a family's index, and a sample's index in that family. */
export interface Cursor {
  family: number;
  sample: number;
}

/** Some families' headers, each with some of its samples, in order. */
export interface Page {
  /** `at` is the family's index in the whole list; a family cut by a page goes on in the next. */
  parts: { at: number; family: MetricFamily }[];
  /** Where the next page starts; absent on the last page. */
  next?: Cursor;
}

/**
 * The page of `families` that starts at `from`, with at most `size` samples; a family without
 * samples counts as one, so that every page moves on. A family without a list of values goes
 * as it is, whole: the exposition leaves it out and says why, as it does in-process. Host side.
 */
export function pageOf(
  families: readonly MetricFamily[],
  from: Cursor = { family: 0, sample: 0 },
  size = PAGE_SAMPLES,
): Page {
  const parts: Page["parts"] = [];
  let room = size;
  for (let at = from.family; at < families.length; at++) {
    if (room <= 0) return { parts, next: { family: at, sample: 0 } };
    const family = families[at];
    if (!Array.isArray(family?.values)) {
      parts.push({ at, family });
      room--;
      continue;
    }
    const values = family.values;
    const start = at === from.family ? from.sample : 0;
    const end = Math.min(values.length, start + room);
    parts.push({ at, family: { ...family, values: encodeValues(values.slice(start, end)) } });
    room -= Math.max(1, end - start);
    if (end < values.length) return { parts, next: { family: at, sample: end } };
  }
  return { parts };
}

/**
 * JSON, which pages now cross in (host_protocol.ts), writes NaN and ±Inf as null: such a value
 * goes as its exposition text, and the exporter side turns it back into the number.
 */
const NON_FINITE: Record<string, number> = { "NaN": NaN, "+Inf": Infinity, "-Inf": -Infinity };

function encodeValues(values: Sample[]): Sample[] {
  for (let i = 0; i < values.length; i++) {
    const value = values[i]?.value;
    if (typeof value === "number" && !Number.isFinite(value)) {
      values[i] = {
        ...values[i],
        value: (Number.isNaN(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf") as unknown as number,
      };
    }
  }
  return values;
}

function decodeValue(sample: Sample): Sample {
  const value: unknown = sample?.value;
  return typeof value === "string" && Object.hasOwn(NON_FINITE, value)
    ? { ...sample, value: NON_FINITE[value] }
    : sample;
}

/** The number of samples in `families`, as pages will carry them. */
export function sampleCount(families: readonly MetricFamily[]): number {
  let count = 0;
  for (const family of families) count += Array.isArray(family?.values) ? family.values.length : 0;
  return count;
}

const isIndex = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/**
 * Families put back together from the pages a host hands back, within `maxSamples`. Exporter
 * side: each page is checked before it is taken.
 */
export class FamilyAssembler {
  readonly #families: MetricFamily[] = [];
  readonly #maxSamples: number;
  #samples = 0;

  /** `declared`: the samples the host says its pages hold; over `maxSamples`, it throws at once. */
  constructor(declared: unknown, maxSamples: number) {
    this.#maxSamples = maxSamples;
    if (!isIndex(declared)) throw new Error("its host handed back families without a sample count");
    if (declared > maxSamples) {
      throw new Error(
        `its run handed back ${declared} samples, over the bound of ${maxSamples} for a module in its host`,
      );
    }
  }

  /** Takes `page`; returns where the next one starts, or undefined when this was the last. */
  add(page: unknown): Cursor | undefined {
    const { parts, next } = (typeof page === "object" && page !== null ? page : {}) as Partial<Page>;
    if (!Array.isArray(parts)) throw new Error("its host handed back a page of families that is not one");
    const before = this.#samples + this.#families.length;
    for (const part of parts) {
      if (typeof part !== "object" || part === null || !("family" in part)) {
        throw new Error("its host handed back a page of families that is not one");
      }
      const { at, family } = part as Page["parts"][0];
      const values = (family as { values?: unknown } | null)?.values;
      if (!Array.isArray(values)) {
        // Whole, as it came: the exposition leaves it out, naming why.
        if (at !== this.#families.length) {
          throw new Error("its host handed back the parts of its families out of order");
        }
        this.#push(family);
        continue;
      }
      this.#samples += values.length;
      if (this.#samples > this.#maxSamples) {
        throw new Error(
          `its run handed back more than ${this.#maxSamples} samples, the bound for a module in its host`,
        );
      }
      const last = this.#families.length - 1;
      if (at === last && Array.isArray(this.#families[last]?.values)) {
        for (const value of values) this.#families[last].values.push(decodeValue(value));
      } else if (at === last + 1) {
        this.#push({ ...family, values: values.map(decodeValue) });
      } else {
        throw new Error("its host handed back the parts of its families out of order");
      }
    }
    if (next === undefined) return undefined;
    if (typeof next !== "object" || next === null || !isIndex(next.family) || !isIndex(next.sample)) {
      throw new Error("its host handed back a page that does not say where the next one starts");
    }
    // Every page but the last brings a sample or a family: a host cannot keep the server asking.
    if (this.#samples + this.#families.length === before) {
      throw new Error("its host handed back an empty page that is not the last");
    }
    return { family: next.family, sample: next.sample };
  }

  families(): MetricFamily[] {
    return this.#families;
  }

  #push(family: MetricFamily): void {
    if (this.#families.length >= this.#maxSamples) {
      throw new Error(
        `its run handed back more than ${this.#maxSamples} families, the bound for a module in its host`,
      );
    }
    this.#families.push(family);
  }
}
