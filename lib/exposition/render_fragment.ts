/**
 * A module's families rendered to bytes in slices (issue 10): at 100k series, rendering in one
 * synchronous step held the event loop for 100-135 ms, and validating for another 10-18 ms.
 * Families that would make the body invalid are left out, as validateFamily says.
 */

import {
  type Format,
  formatHeader,
  formatSample,
  type MetricFamily,
  sampleChecker,
  validateFamilyHeader,
} from "./format.ts";
import type { Slicer } from "./slicer.ts";

type Bytes = Uint8Array<ArrayBuffer>;

export interface RenderedFragment {
  bytes: Bytes;
  /** Why families were left out, one entry per family. */
  problems: string[];
}

interface Snapshot {
  family: MetricFamily;
  samples: MetricFamily["values"];
  values: unknown[];
  problem?: string;
}

/** Samples rendered between two checks of the slice's clock. */
const SAMPLES_PER_CHECK = 256;

const encoder = new TextEncoder();

/**
 * Renders `families` in `format`. Their values are read at once, before the first pause, so a
 * process() run that updates them in place meanwhile cannot leave a half-updated fragment.
 */
export async function renderFragment(
  families: readonly MetricFamily[],
  format: Format,
  slicer: Slicer,
): Promise<RenderedFragment> {
  const problems: string[] = [];
  // In family order, each with its header's problem or its samples and their values.
  const snapshots: Snapshot[] = [];
  for (const family of families) {
    const problem = validateFamilyHeader(family);
    if (problem !== undefined) {
      snapshots.push({ family, samples: [], values: [], problem });
      continue;
    }
    const samples = family.values.slice();
    const values = new Array<unknown>(samples.length);
    for (let i = 0; i < samples.length; i++) values[i] = samples[i]?.value;
    snapshots.push({ family, samples, values });
  }

  const chunks: Bytes[] = [];
  for (const { family, samples, values, problem: headerProblem } of snapshots) {
    if (headerProblem !== undefined) {
      problems.push(headerProblem);
      continue;
    }
    const check = sampleChecker(family);
    const familyChunks: Bytes[] = [];
    let text = formatHeader(family, format);
    let problem: string | undefined;
    for (let i = 0; i < samples.length && problem === undefined; i++) {
      const sample = samples[i];
      problem = check(sample, values[i]);
      if (problem === undefined) text += formatSample(family, sample, values[i] as number, format);
      if (i % SAMPLES_PER_CHECK === SAMPLES_PER_CHECK - 1 && slicer.due) {
        familyChunks.push(encoder.encode(text));
        text = "";
        await slicer.pause();
      }
    }
    if (problem !== undefined) {
      problems.push(problem);
      continue;
    }
    familyChunks.push(encoder.encode(text));
    chunks.push(...familyChunks);
  }
  const bytes = chunks.length === 1 ? chunks[0] : await slicer.concat(chunks);
  return { bytes, problems };
}
