/**
 * Reads a module file without letting the file wedge the reader (issue 8 item 1): a FIFO
 * blocks open() until a writer comes, a symlink to /dev/zero reads for ever. Only a regular
 * file (symlinks followed) is read, and never more than the size bound.
 */

import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { joinBytes } from "../exposition/slicer.ts";

/** The size bound of a module file: far above any real module, far below harm. */
export const MAX_MODULE_FILE_BYTES: number = 10 * 1024 * 1024;

/** A file that cannot be a module: not a regular file, or over the size bound. */
export class NotAModuleFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "NotAModuleFileError";
  }
}

interface FileKind {
  isFile: boolean;
  isDirectory: boolean;
  isSymlink?: boolean;
  isFifo?: boolean | null;
  isCharDevice?: boolean | null;
  isBlockDevice?: boolean | null;
  isSocket?: boolean | null;
  size: number;
}

function kind(info: FileKind): string | undefined {
  if (info.isFifo) return "a FIFO";
  if (info.isCharDevice) return "a character device";
  if (info.isBlockDevice) return "a block device";
  if (info.isSocket) return "a socket";
  return undefined;
}

const MIB = 1024 * 1024;

/** "12.0 MiB" for a size, "10 MiB" for a round limit, plain bytes below a MiB. */
function amount(bytes: number, round = false): string {
  if (bytes < MIB) return `${bytes} bytes`;
  return `${round && bytes % MIB === 0 ? bytes / MIB : (bytes / MIB).toFixed(1)} MiB`;
}

/**
 * Throws NotAModuleFileError unless `info` is a regular file within `maxBytes`; IsADirectory
 * for a directory (a helper dir behind a module-like name, which the scan passes over).
 */
export function checkRegularFile(info: FileKind, maxBytes = MAX_MODULE_FILE_BYTES): void {
  if (info.isDirectory) throw new Deno.errors.IsADirectory("is a directory, not a regular file");
  if (!info.isFile) {
    const what = kind(info);
    throw new NotAModuleFileError(what ? `is ${what}, not a regular file` : "is not a regular file");
  }
  if (info.size > maxBytes) {
    throw new NotAModuleFileError(`is ${amount(info.size)}, over the ${limit(maxBytes)}`);
  }
}

function limit(maxBytes: number): string {
  return `${amount(maxBytes, true)} limit`;
}

/** node:fs errors carry no Deno error class: give the two the scan tells apart theirs. */
function asDenoError(err: unknown): unknown {
  const code = (err as { code?: unknown })?.code;
  if (code === "ENOENT") return new Deno.errors.NotFound((err as Error).message, { cause: err });
  if (code === "EISDIR") return new Deno.errors.IsADirectory((err as Error).message, { cause: err });
  return err;
}

/**
 * The content of the regular file at `path` (symlinks followed). Throws NotAModuleFileError
 * for anything else or a file over `maxBytes`, and the file system's error (NotFound,
 * PermissionDenied, ...) when it cannot be read.
 */
export async function readRegularFile(path: string, maxBytes = MAX_MODULE_FILE_BYTES): Promise<Uint8Array> {
  // stat first: opening a device can have effects, and opening a FIFO waits for a writer.
  checkRegularFile(await Deno.stat(path), maxBytes);
  // The path may have been swapped since: O_NONBLOCK keeps open() of a FIFO from waiting,
  // and the handle's own stat tells what was opened.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY).catch(
    (err) => {
      throw asDenoError(err);
    },
  );
  try {
    const info = await handle.stat();
    checkRegularFile(
      {
        isFile: info.isFile(),
        isDirectory: info.isDirectory(),
        isFifo: info.isFIFO(),
        isCharDevice: info.isCharacterDevice(),
        isBlockDevice: info.isBlockDevice(),
        isSocket: info.isSocket(),
        size: info.size,
      },
      maxBytes,
    );
    // The file may still grow between stat and read: read at most one byte past the bound.
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    let total = 0;
    while (total <= maxBytes) {
      const chunk = new Uint8Array(Math.min(64 * 1024, maxBytes + 1 - total));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
    }
    if (total > maxBytes) throw new NotAModuleFileError(`grew over the ${limit(maxBytes)} while being read`);
    return joinBytes(chunks);
  } finally {
    await handle.close();
  }
}
