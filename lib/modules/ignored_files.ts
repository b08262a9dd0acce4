/**
 * The files in the metrics dir that are not modules (issue 7): each is named once in the log,
 * with the reason, not at every scan, and the status page lists them.
 */

import type { Logger } from "../log.ts";
import type { IgnoredFile } from "./scan.ts";

export class IgnoredFiles {
  readonly #log: Logger;
  /** By path: the files the last scan ignored. */
  #files = new Map<string, IgnoredFile>();

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Takes a scan's ignored files: logs each one not seen (with that reason) by the previous scan. */
  update(files: readonly IgnoredFile[]): void {
    const next = new Map(files.map((file) => [file.path, file]));
    for (const file of files) {
      if (this.#files.get(file.path)?.reason === file.reason) continue;
      this.#log.info("file ignored: not a module", { file: file.path, reason: file.reason });
    }
    // A file that goes and comes back is named again.
    this.#files = next;
  }

  /** The files the last scan ignored, in name order. */
  list(): IgnoredFile[] {
    return [...this.#files.values()];
  }
}
