/**
 * Runs `fn` at most once at a time, and at most once more after that: calls that arrive while
 * it runs share the next single run, whatever their number. A caller always gets a run that
 * started after its call (so a reload asked for after a file changed sees the change), and a
 * burst of `POST /-/reload` costs two reloads, not one each (issue 8, item 15).
 */
export function coalesce(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;
  const start = (): Promise<void> => {
    running = fn().finally(() => running = undefined);
    return running;
  };
  return () => {
    if (!running) return start();
    next ??= running.catch(() => {}).then(() => {
      next = undefined;
      return start();
    });
    return next;
  };
}
