/**
 * The few libc calls the wrapper needs and Deno does not offer: reading
 * `/proc` (Deno asks for `--allow-all` to read it), reaping orphaned
 * processes as PID 1, reading and setting ignored signals, and starting the
 * job in a session of its own without a fork (spawn.ts). Loaded with
 * `--allow-ffi` (the wrapper's own, never a plugin's). Linux only.
 *
 * Deno's first FFI symbol costs ~2.5 ms (later ones ~0.2 ms), so the
 * start-up path loads only `sigaction`, and the rest is loaded when used.
 * @module
 */

const PROC_SYMBOLS = {
  open: { parameters: ["buffer", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  waitid: {
    parameters: ["i32", "i32", "buffer", "i32"],
    result: "i32",
  },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
} as const;

const SIGNAL_SYMBOLS = {
  sigaction: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
} as const;

const SPAWN_SYMBOLS = {
  posix_spawn: {
    parameters: ["buffer", "buffer", "pointer", "buffer", "buffer", "pointer"],
    result: "i32",
  },
  posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
  posix_spawnattr_setsigdefault: {
    parameters: ["buffer", "buffer"],
    result: "i32",
  },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  access: { parameters: ["buffer", "i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
  waitpidBlocking: {
    name: "waitpid",
    parameters: ["i32", "buffer", "i32"],
    result: "i32",
    nonblocking: true,
  },
  environ: { type: "pointer" },
} as const;

const TERMINAL_SYMBOLS = {
  tcgetpgrp: { parameters: ["i32"], result: "i32" },
  getpgrp: { parameters: [], result: "i32" },
} as const;

/** The libc functions for `/proc` and reaping. */
export type Libc = Deno.DynamicLibrary<typeof PROC_SYMBOLS>["symbols"];

/** The libc functions for a terminal's foreground group. */
export type TerminalLibc = Deno.DynamicLibrary<
  typeof TERMINAL_SYMBOLS
>["symbols"];

/** The libc functions for starting the job. */
export type SpawnLibc = Deno.DynamicLibrary<typeof SPAWN_SYMBOLS>["symbols"];

/** The libc functions for signal dispositions. */
export type SignalLibc = Deno.DynamicLibrary<typeof SIGNAL_SYMBOLS>["symbols"];

let proc: Libc | string | undefined;
let signal: SignalLibc | string | undefined;
let terminal: TerminalLibc | string | undefined;
let spawn: SpawnLibc | string | undefined;

/** libc's `posix_spawn` and `waitpid`, or why they cannot be had. */
export function spawnLibc(): SpawnLibc | string {
  return spawn ??= load(SPAWN_SYMBOLS);
}

/** libc, or why it cannot be had (not Linux, no `--allow-ffi`, no libc). */
export function libc(): Libc | string {
  return proc ??= load(PROC_SYMBOLS);
}

/** libc's `tcgetpgrp` and `getpgrp`, or why they cannot be had. */
export function terminalLibc(): TerminalLibc | string {
  return terminal ??= load(TERMINAL_SYMBOLS);
}

/** libc's `sigaction`, or why it cannot be had. */
export function signalLibc(): SignalLibc | string {
  return signal ??= load(SIGNAL_SYMBOLS);
}

function load<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S>["symbols"] | string {
  if (Deno.build.os !== "linux") return "not Linux";
  try {
    return Deno.dlopen("libc.so.6", symbols).symbols;
  } catch (error) {
    return error instanceof Deno.errors.NotCapable
      ? "the wrapper was started without --allow-ffi"
      : `cannot load libc (${(error as Error).message})`;
  }
}
