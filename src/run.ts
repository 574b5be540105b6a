/**
 * Running the command: stdio inherited (its bytes never pass through
 * JavaScript), signals forwarded while it runs, its status returned.
 * @module
 */
import type { ExitStatus } from "../mod.ts";
import {
  EXIT_NOT_EXECUTABLE,
  EXIT_NOT_FOUND,
  EXIT_SIGNAL_BASE,
} from "./exit_codes.ts";
import type { Logger } from "./log.ts";
import type { SignalRelay } from "./signals.ts";

/** Linux signal numbers of the signals that may stop the job before it starts. */
export const SIGNAL_NUMBERS: Readonly<Partial<Record<Deno.Signal, number>>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGTERM: 15,
};

/** How a run ended: the command's status, or why it could not start. */
export interface ChildResult {
  /** Whether the command was started. */
  started: boolean;
  /** The exit status (for a command that could not start: 126 or 127). */
  status: ExitStatus;
  /** How long the command ran, in ms. */
  durationMs: number;
}

/** Options of `runChild`. */
export interface RunChildOptions {
  /** The relay holding the process's signal listeners. */
  signals: SignalRelay;
  /** The wrapper's logger. */
  log: Logger;
}

/** Spawn the command, forward signals to it, and wait for it to end. */
export async function runChild(
  command: readonly string[],
  options: RunChildOptions,
): Promise<ChildResult> {
  const { signals, log } = options;
  const [program, ...args] = command as [string, ...string[]];
  const started = performance.now();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, {
      args,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    const notFound = error instanceof Deno.errors.NotFound;
    const code = notFound ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
    log.error(
      notFound
        ? `Cannot run "${program}": command not found`
        : `Cannot run "${program}": ${
          error instanceof Deno.errors.PermissionDenied
            ? "permission denied (not executable, or a directory)"
            : String(error)
        }`,
      { code },
    );
    return {
      started: false,
      status: { code, signal: null, success: false },
      durationMs: 0,
    };
  }
  signals.attach(child);
  log.debug("Started command", { pid: child.pid, program });
  const status = await child.status;
  signals.detach();
  const durationMs = Math.round(performance.now() - started);
  return {
    started: true,
    status: {
      code: status.code,
      signal: status.signal,
      success: status.code === 0,
    },
    durationMs,
  };
}

/** The exit status of a job stopped by `signal` before it started: 128 + n. */
export function stoppedBySignal(signal: Deno.Signal): ExitStatus {
  const number = SIGNAL_NUMBERS[signal] ?? 15;
  return { code: EXIT_SIGNAL_BASE + number, signal, success: false };
}
