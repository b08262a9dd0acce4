/**
 * setTimeout for any delay. Timers take at most 2^31-1 ms (24.8 days); a longer delay fires
 * after 1 ms with a TimeoutOverflowWarning, which made `interval = "30d"` run a module about
 * 700 times a second (issue 8). Longer delays are chained in steps below that limit.
 */

/**
 * The real clock, taken before any module code runs: a module host replaying a fixture
 * (lib/host/fixture_shim.ts) gives modules a recorded clock, never its own timers.
 */
const now = Date.now;

/** The longest delay one setTimeout takes. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A pending long timeout; pass it to clearLongTimeout. */
export interface LongTimeout {
  id?: ReturnType<typeof setTimeout>;
}

/** Calls `fn` after `ms` (any finite delay, negative meaning now), in steps of at most MAX_TIMER_MS. */
export function setLongTimeout(fn: () => void, ms: number): LongTimeout {
  const handle: LongTimeout = {};
  const due = now() + Math.max(0, ms);
  const arm = (delay: number) => {
    handle.id = setTimeout(() => {
      const left = due - now();
      if (left > 0) arm(left);
      else fn();
    }, Math.min(Math.max(0, delay), MAX_TIMER_MS));
  };
  arm(ms);
  return handle;
}

export function clearLongTimeout(handle: LongTimeout | undefined): void {
  if (handle) clearTimeout(handle.id);
}

/** `promise`, or a rejection with `error()` once `ms` have passed, whichever comes first. */
export async function within<T>(promise: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: LongTimeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setLongTimeout(() => reject(error()), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearLongTimeout(timer);
  }
}
