/**
 * Signal numbers and the signals ignored when the wrapper started. A signal
 * ignored then (`nohup`, `&` in a script) stays ignored, for the wrapper and
 * for the job, as it would for the command alone: it is neither listened to
 * nor forwarded. Deno gives no way to read a disposition, so it is read from
 * libc's `sigaction` before the first listener: that first listener makes
 * Deno handle SIGINT and SIGHUP even when they were ignored, so they are
 * ignored again after it.
 * @module
 */
import { type SignalLibc, signalLibc } from "./libc.ts";

/**
 * Linux's numbers (x86-64 and arm64 share them) of the signals Deno names
 * (not SIGEMT, SIGINFO, SIGBREAK: other systems').
 */
export const SIGNAL_NUMBERS: Readonly<Partial<Record<Deno.Signal, number>>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** `struct sigaction`, larger than glibc's (152 bytes) and musl's. */
const SIGACTION_BYTES = 256;
const SIG_IGN = 1n;

/**
 * Those of `signals` that were ignored when the process started. Empty when
 * dispositions cannot be read (no `--allow-ffi`, not Linux): then every
 * signal is listened to, as before.
 */
export function ignoredSignals(
  signals: readonly Deno.Signal[],
  c: SignalLibc | string = signalLibc(),
): Set<Deno.Signal> {
  const ignored = new Set<Deno.Signal>();
  if (typeof c === "string") return ignored;
  const old = new BigUint64Array(SIGACTION_BYTES / 8);
  for (const signal of signals) {
    const number = SIGNAL_NUMBERS[signal];
    if (number === undefined || c.sigaction(number, null, old) !== 0) continue;
    // The handler is the first field of glibc's and musl's struct.
    if (old[0] === SIG_IGN) ignored.add(signal);
  }
  return ignored;
}

/** Ignore `signals` again (after Deno's first listener took SIGINT and SIGHUP). */
export function ignoreAgain(
  signals: Iterable<Deno.Signal>,
  c: SignalLibc | string = signalLibc(),
): void {
  if (typeof c === "string") return;
  const ignore = new BigUint64Array(SIGACTION_BYTES / 8);
  ignore[0] = SIG_IGN;
  for (const signal of signals) {
    const number = SIGNAL_NUMBERS[signal];
    if (number !== undefined) c.sigaction(number, ignore, null);
  }
}
