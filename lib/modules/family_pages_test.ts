import assert from "node:assert/strict";
import type { MetricFamily } from "../exposition/format.ts";
import {
  type Cursor,
  FamilyAssembler,
  type Page,
  PAGE_SAMPLES,
  pageOf,
  sampleCount,
} from "./family_pages.ts";

const family = (name: string, count: number): MetricFamily => ({
  name,
  help: `${name} help`,
  type: "gauge",
  values: Array.from({ length: count }, (_, i) => ({ value: i, labels: { i: String(i) } })),
});

/** Every page of `families` as the Worker would hand them back, one after another. */
function pages(families: MetricFamily[], size: number): Page[] {
  const out = [pageOf(families, undefined, size)];
  while (out.at(-1)!.next) out.push(pageOf(families, out.at(-1)!.next, size));
  return out;
}

Deno.test("pageOf cuts families into pages of at most a page's samples, and FamilyAssembler puts them back", () => {
  const families = [
    family("empty_first", 0),
    family("big", 5000),
    family("one", 1),
    family("empty", 0),
    family("three", 3),
  ];
  const cut = pages(families, PAGE_SAMPLES);
  // 5,004 samples and two empty families: three pages.
  assert.equal(cut.length, 3);
  for (const page of cut) {
    assert.ok(sampleCount(page.parts.map((p) => p.family)) <= PAGE_SAMPLES);
  }
  assert.deepEqual(cut[0].next, { family: 1, sample: 1999 }, "an empty family takes a place of its own");
  const assembler = new FamilyAssembler(sampleCount(families), 10_000);
  for (const page of cut) assembler.add(page);
  assert.deepEqual(assembler.families(), families);
  // A page of one sample at a time ends too, with the same families.
  const one = new FamilyAssembler(5004, 10_000);
  let next: Cursor | undefined = { family: 0, sample: 0 };
  let count = 0;
  while (next) next = one.add(pageOf(families, next, 1)), count++;
  assert.equal(count, 5006);
  assert.deepEqual(one.families(), families);
  // A family without a list of values (or no family at all) comes back whole, as it was: the
  // exposition leaves it out and says why.
  const odd = [family("before", 3), { name: "odd", values: "not a list" }, null, family("after", 2)];
  const oddPages = pages(odd as unknown as MetricFamily[], 2);
  const back = new FamilyAssembler(5, 100);
  for (const page of oddPages) back.add(page);
  assert.deepEqual(back.families(), odd);
  // No families: one empty last page.
  assert.deepEqual(pageOf([]), { parts: [] });
  assert.deepEqual(new FamilyAssembler(0, 10).families(), []);
});

Deno.test("FamilyAssembler refuses what a Worker's page must not be, each with its reason", () => {
  const refusal = (declared: unknown, ...pages: unknown[]) => {
    try {
      const assembler = new FamilyAssembler(declared, 100);
      for (const page of pages) assembler.add(page);
    } catch (err) {
      return (err as Error).message;
    }
    return "(accepted)";
  };
  const part = (at: number, count: number) => ({ at, family: family(`f${at}`, count) });
  assert.deepEqual(
    [
      refusal(101),
      refusal("5"),
      refusal(-1),
      refusal(undefined),
      refusal(5, null),
      refusal(5, { parts: "x" }),
      refusal(5, { parts: [null] }),
      refusal(5, { parts: [{ at: 0 }] }),
      refusal(5, { parts: [{ at: 1, family: { name: "x" } }] }),
      refusal(5, { parts: [{ at: 0, family: { name: "x", values: "y" } }, part(0, 1)] }),
      refusal(5, { parts: [part(1, 1)] }),
      refusal(5, { parts: [part(0, 1)], next: { family: 0, sample: 1 } }, { parts: [part(2, 1)] }),
      refusal(5, { parts: [part(0, 60)], next: { family: 0, sample: 60 } }, { parts: [part(0, 41)] }),
      refusal(5, { parts: [], next: { family: 0, sample: 0 } }),
      refusal(5, { parts: [part(0, 1)], next: { family: 0, sample: 1 } }, {
        parts: [part(0, 0)],
        next: { family: 0, sample: 1 },
      }),
      refusal(5, { parts: [part(0, 1)], next: { family: "0", sample: 1 } }),
      refusal(5, { parts: Array.from({ length: 101 }, (_, at) => part(at, 0)) }),
      refusal(5, { parts: [part(0, 5)] }),
    ],
    [
      "its run handed back 101 samples, over the bound of 100 for a module in its host",
      "its host handed back families without a sample count",
      "its host handed back families without a sample count",
      "its host handed back families without a sample count",
      "its host handed back a page of families that is not one",
      "its host handed back a page of families that is not one",
      "its host handed back a page of families that is not one",
      "its host handed back a page of families that is not one",
      "its host handed back the parts of its families out of order",
      "its host handed back the parts of its families out of order",
      "its host handed back the parts of its families out of order",
      "its host handed back the parts of its families out of order",
      "its run handed back more than 100 samples, the bound for a module in its host",
      "its host handed back an empty page that is not the last",
      "its host handed back an empty page that is not the last",
      "its host handed back a page that does not say where the next one starts",
      "its run handed back more than 100 families, the bound for a module in its host",
      "(accepted)",
    ],
  );
});

Deno.test("NaN and ±Inf samples keep their values through a page sent as JSON", () => {
  const special: MetricFamily = {
    name: "special",
    help: "special help",
    type: "gauge",
    values: [NaN, Infinity, -Infinity, 1.5e-9].map((value, i) => ({ value, labels: { i: String(i) } })),
  };
  const assembler = new FamilyAssembler(4, 10);
  const page = JSON.parse(JSON.stringify(pageOf([special])));
  assert.equal(assembler.add(page), undefined);
  assert.deepEqual(assembler.families(), [special]);
});
