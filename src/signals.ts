/**
 * Signal capture and forwarding. `captureSignals()` must run before anything
 * else: as PID 1, a signal with no JS listener is ignored and later crashes
 * Deno, and a signal that arrives before the command starts must not be lost.
 * @module
 */
import { ignoreAgain, ignoredSignals } from "./dispositions.ts";
import { terminalLibc } from "./libc.ts";

/**
 * Signals forwarded to the command while it runs: every one Deno lets a
 * program listen to, but
 * - SIGBUS and SIGTRAP: faults of the wrapper's own (V8 ends on a fatal error
 *   with a trap); a handler would make it loop or run on past them;
 * - SIGPIPE: Deno ignores it, and a listener would turn the wrapper's own
 *   broken pipe into a signal for the job;
 * - SIGCHLD: the wrapper's own children (reaper.ts);
 * - SIGTTIN, SIGTTOU: a terminal sends them to a background process that
 *   reads or writes it, which the job (in its own session, without a
 *   controlling terminal) never is: they stop the wrapper, as anyone.
 * SIGTSTP is listened to but not forwarded as such (`TERMINAL_STOP`).
 * SIGKILL and SIGSTOP cannot be caught; Deno refuses SIGILL, SIGFPE and
 * SIGSEGV, and has no names for the real-time signals (32–64).
 */
export const FORWARDED_SIGNALS: readonly Deno.Signal[] = [
  "SIGTERM",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGWINCH",
  "SIGALRM",
  "SIGCONT",
  "SIGABRT",
  "SIGIO",
  "SIGPROF",
  "SIGPWR",
  "SIGSTKFLT",
  "SIGSYS",
  "SIGURG",
  "SIGVTALRM",
];

/**
 * Signals caught but not forwarded: the kernel sends them to the process
 * that passed its own CPU or file-size limit, which for these is the
 * wrapper (a log line into a full file): they must neither end it nor reach
 * the job.
 */
export const OWN_SIGNALS: readonly Deno.Signal[] = ["SIGXCPU", "SIGXFSZ"];

/**
 * A terminal's Ctrl-Z. From a terminal whose foreground the wrapper is, the
 * job (its own session, whose group the kernel deems orphaned and so drops
 * SIGTSTP for) is stopped with SIGSTOP, then the wrapper stops itself, as
 * the shell expects; the SIGCONT of `fg` is forwarded in turn. Any other
 * SIGTSTP is forwarded as it is, so a stray one never stops a pod's job.
 */
export const TERMINAL_STOP: Deno.Signal = "SIGTSTP";

/** Signals that, arriving before the command starts, mean "do not start it". */
export const STOP_SIGNALS: readonly Deno.Signal[] = [
  "SIGTERM",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
];

/** Where a received signal goes once the command runs. */
export interface SignalTarget {
  kill(signal: Deno.Signal): void;
}

/**
 * Holds the process's signal listeners for its whole life. Before a target is
 * attached it remembers the first stop signal; while attached it forwards
 * every captured signal to the target.
 */
export class SignalRelay {
  #target: SignalTarget | undefined;
  #stopSignal: Deno.Signal | undefined;
  #stop = new AbortController();
  #ended = false;
  /** Signals ignored at start: never listened to, never forwarded. */
  ignored: ReadonlySet<Deno.Signal> = new Set();
  #onSignal: (signal: Deno.Signal, forwarded: boolean) => void = () => {};
  #jobControl: JobControl;

  /** `jobControl`: whether a Ctrl-Z came from a terminal, and how to stop. */
  constructor(jobControl: JobControl = TERMINAL_JOB_CONTROL) {
    this.#jobControl = jobControl;
  }

  /** Called with each signal received, after forwarding it (or not). */
  set onSignal(callback: (signal: Deno.Signal, forwarded: boolean) => void) {
    this.#onSignal = callback;
  }

  /** The first stop signal received while no target was attached. */
  get stopSignal(): Deno.Signal | undefined {
    return this.#stopSignal;
  }

  /** Aborts, with that signal as its reason, when it arrives. */
  get stopping(): AbortSignal {
    return this.#stop.signal;
  }

  /** Start forwarding to `target`. */
  attach(target: SignalTarget): void {
    this.#target = target;
  }

  /** Stop forwarding (the target has exited): from now on nothing means stop. */
  detach(): void {
    this.#target = undefined;
    this.#ended = true;
  }

  /** Handle one received signal. */
  receive(signal: Deno.Signal): void {
    if (OWN_SIGNALS.includes(signal)) return this.#onSignal(signal, false);
    const before = this.#target === undefined && !this.#ended;
    if (before && STOP_SIGNALS.includes(signal) && !this.#stop.signal.aborted) {
      this.#stopSignal = signal;
      this.#stop.abort(signal);
    }
    if (signal !== TERMINAL_STOP) return this.#forward(signal);
    if (!this.#jobControl.inForeground()) return this.#forward(signal);
    this.#forward("SIGSTOP");
    this.#jobControl.stopSelf();
  }

  #forward(signal: Deno.Signal): void {
    const target = this.#target;
    if (target === undefined) return this.#onSignal(signal, false);
    let forwarded = true;
    try {
      target.kill(signal);
      // A stopped job would keep a stop signal pending, and the pod with it:
      // SIGCONT lets it act (systemd does the same).
      if (STOP_SIGNALS.includes(signal)) target.kill("SIGCONT");
    } catch {
      forwarded = false; // the command exited between its status and our detach
    }
    this.#onSignal(signal, forwarded);
  }
}

/** What a SIGTSTP needs to know and do. */
export interface JobControl {
  /**
   * Whether the wrapper is the foreground of a job-control terminal (a shell
   * can resume it): only then does a SIGTSTP stop the job and the wrapper.
   * Otherwise it is forwarded as it is (the kernel drops it for the job's
   * session unless the job handles it), as for the command alone.
   */
  inForeground(): boolean;
  /** Stop the wrapper itself. */
  stopSelf(): void;
}

/** The real terminal: never as PID 1, which no shell can resume. */
const TERMINAL_JOB_CONTROL: JobControl = {
  inForeground() {
    if (Deno.pid === 1) return false;
    const c = terminalLibc();
    if (typeof c === "string") return false;
    const group = c.getpgrp();
    return [0, 1, 2].some((fd) => c.tcgetpgrp(fd) === group);
  },
  stopSelf: () => Deno.kill(Deno.pid, "SIGSTOP"),
};

/**
 * Install a listener for every forwarded signal not ignored at start (those
 * stay ignored, for the wrapper and the job) and return the relay.
 */
export function captureSignals(): SignalRelay {
  const relay = new SignalRelay();
  if (Deno.build.os === "windows") return relay;
  const signals = [...FORWARDED_SIGNALS, TERMINAL_STOP, ...OWN_SIGNALS];
  const ignored = ignoredSignals(signals);
  for (const signal of signals) {
    if (ignored.has(signal)) continue;
    Deno.addSignalListener(signal, () => relay.receive(signal));
  }
  ignoreAgain(ignored);
  relay.ignored = ignored;
  return relay;
}

/**
 * Ignore again the signals ignored at start, after a listener added later
 * (the reaper's): Deno's first listener of any signal takes SIGHUP, SIGINT
 * and SIGTERM, and as PID 1 a signal Deno takes with no JS listener crashes
 * it.
 */
export function keepIgnored(relay: SignalRelay): void {
  if (relay.ignored.size > 0) ignoreAgain(relay.ignored);
}

/**
 * Under `deno run`, Deno ≥ 2.9.2 opens an unauthenticated V8 inspector on
 * 127.0.0.1:9229 when it gets SIGUSR1, reachable from every container of the
 * pod and from the plugins' localhost sandbox. Holding that address first
 * makes the inspector fail to bind, so SIGUSR1 only reaches the command.
 * Compiled binaries have no such listener and skip this.
 * Returns the listener, or undefined when not needed or the port is taken.
 */
export function guardInspectorPort(): Deno.Listener | undefined {
  if (Deno.build.standalone || Deno.build.os === "windows") return undefined;
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ hostname: "127.0.0.1", port: 9229 });
  } catch {
    return undefined; // already bound: the inspector cannot bind it either
  }
  (async () => {
    for await (const conn of listener) conn.close();
  })().catch(() => {});
  return listener;
}
