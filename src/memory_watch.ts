/**
 * A watch on a plugin process's memory outside what V8's heap cap bounds
 * (ArrayBuffers, Workers, native buffers): its anonymous resident memory is
 * read from `/proc/<pid>/status` every `MEMORY_POLL_MS`, and past the cap the
 * watcher is told. The file is read through libc (libc.ts). Linux only.
 * @module
 */
import { after } from "./plugin_runtime.ts";
import { libc } from "./libc.ts";

/** How often a plugin process's memory is read: ~25 µs a read. */
export const MEMORY_POLL_MS = 50;

/** Anonymous resident memory in bytes from a `/proc/<pid>/status` text. */
export function anonymousBytes(status: string): number | undefined {
  const match = /^RssAnon:\s+(\d+)\s+kB$/m.exec(status);
  return match === null ? undefined : Number(match[1]) * 1024;
}

type ProcReader = (path: string) => string | undefined;
let reader: ProcReader | string | undefined;

/** A reader of small /proc files, or why there is none. */
export function procReader(): ProcReader | string {
  if (reader !== undefined) return reader;
  const c = libc();
  if (typeof c === "string") return reader = c;
  const buffer = new Uint8Array(8192);
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  return reader = (path) => {
    const fd = c.open(encoder.encode(`${path}\0`), 0); // O_RDONLY
    if (fd < 0) return undefined;
    const size = Number(c.read(fd, buffer, BigInt(buffer.length)));
    c.close(fd);
    return size < 0 ? undefined : decoder.decode(buffer.subarray(0, size));
  };
}

/**
 * Call `exceeded` (once) when process `pid`'s anonymous resident memory
 * passes `capBytes`; returns a function that stops watching, or why it
 * cannot watch. Stops by itself when the process is gone.
 */
export function watchMemory(
  pid: number,
  capBytes: number,
  exceeded: (bytes: number) => void,
): (() => void) | string {
  const read = procReader();
  if (typeof read === "string") return read;
  let cancel = () => {};
  let stopped = false;
  const check = () => {
    const status = read(`/proc/${pid}/status`);
    const bytes = status === undefined ? undefined : anonymousBytes(status);
    if (bytes === undefined || stopped) return; // gone
    if (bytes > capBytes) return exceeded(bytes);
    cancel = after(MEMORY_POLL_MS, check);
  };
  check();
  return () => {
    stopped = true;
    cancel();
  };
}
