/**
 * The few libc calls the wrapper needs and Deno does not offer: reading
 * `/proc` (Deno asks for `--allow-all` to read it) and reaping orphaned
 * processes as PID 1. Loaded once, with `--allow-ffi` (the wrapper's own,
 * never a plugin's). Linux only.
 * @module
 */

const SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  waitid: {
    parameters: ["i32", "i32", "buffer", "i32"],
    result: "i32",
  },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
} as const;

/** The libc functions above. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let loaded: Libc | string | undefined;

/** libc, or why it cannot be had (not Linux, no `--allow-ffi`, no libc). */
export function libc(): Libc | string {
  if (loaded !== undefined) return loaded;
  if (Deno.build.os !== "linux") return loaded = "not Linux";
  try {
    return loaded = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch (error) {
    return loaded = error instanceof Deno.errors.NotCapable
      ? "the wrapper was started without --allow-ffi"
      : `cannot load libc (${(error as Error).message})`;
  }
}
