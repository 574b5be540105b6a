/**
 * Reading a small regular file, bounded: never a FIFO that blocks forever, a
 * device that never ends (`/dev/zero`) or a huge (or sparse) file.
 * @module
 */

/** A file that is not a small regular file. */
export class FileShapeError extends Error {
  override name = "FileShapeError";
}

/**
 * Read `path`, which must be a regular file of at most `maxBytes`. Throws
 * `FileShapeError` (its message completes "the file …"), or Deno's own error
 * (`NotFound`, `PermissionDenied`). `signal` stops the read between chunks.
 */
export async function readSmallFile(
  path: string | URL,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const info = await Deno.stat(path);
  if (info.isDirectory) throw new FileShapeError("is a directory");
  if (!info.isFile) {
    throw new FileShapeError(
      "is not a regular file (a FIFO, socket or device)",
    );
  }
  const tooLarge = () => new FileShapeError(`is larger than ${maxBytes} bytes`);
  if (info.size > maxBytes) throw tooLarge();
  using file = await Deno.open(path);
  const buffer = new Uint8Array(maxBytes + 1);
  let size = 0;
  while (size < buffer.length) {
    signal?.throwIfAborted();
    const n = await file.read(buffer.subarray(size));
    if (n === null) break;
    size += n;
  }
  if (size > maxBytes) throw tooLarge(); // it grew since the stat
  return buffer.subarray(0, size);
}
