/**
 * Running the command: stdio inherited (its bytes never pass through
 * JavaScript), signals forwarded while it runs, its status returned.
 * @module
 */
import { ownChild } from "./reaper.ts";
import type { ExitStatus } from "../mod.ts";
import {
  EXIT_NOT_EXECUTABLE,
  EXIT_NOT_FOUND,
  EXIT_SIGNAL_BASE,
} from "./exit_codes.ts";
import type { Logger } from "./log.ts";
import { SIGNAL_NUMBERS } from "./dispositions.ts";
import { candidates, type JobStatus, spawnSession } from "./spawn.ts";
import type { SignalRelay, SignalTarget } from "./signals.ts";

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
  /** The job's whole environment, when it must be given explicitly. */
  env?: Readonly<Record<string, string>> | undefined;
  /** Forward signals to the job's whole process group, not only to it. */
  signalGroup?: boolean;
}

/** Spawn the command, forward signals to it, and wait for it to end. */
export async function runChild(
  command: readonly string[],
  options: RunChildOptions,
): Promise<ChildResult> {
  const { signals, log } = options;
  const [name, ...args] = command as [string, ...string[]];
  const env = jobEnv(options.env);
  const path = env === undefined ? Deno.env.get("PATH") : env.PATH;
  const program = searchDefaultPath(name, path);
  const started = performance.now();
  let job: { pid: number; status: Promise<JobStatus> };
  try {
    job = startJob(name, program, args, env, path);
    ownChild(job.pid, job.status); // its own waiter reaps it, never the reaper
  } catch (error) {
    const notFound = error instanceof Deno.errors.NotFound;
    const code = notFound ? EXIT_NOT_FOUND : EXIT_NOT_EXECUTABLE;
    log.error(
      notFound
        ? `Cannot run "${name}": command not found`
        : `Cannot run "${program}": ${
          error instanceof Deno.errors.PermissionDenied
            ? "permission denied (not executable, or a directory)"
            : (error as Error).message
        }`,
      { code },
    );
    return {
      started: false,
      status: { code, signal: null, success: false },
      durationMs: 0,
    };
  }
  const { pid } = job;
  signals.attach(
    options.signalGroup ? groupOf(pid) : { kill: (s) => Deno.kill(pid, s) },
  );
  log.debug("Started command", { pid, program });
  const { code, signal, lost } = await job.status;
  signals.detach();
  if (lost) {
    log.error("The job's status was lost: no such child to wait for", { code });
  }
  const durationMs = Math.round(performance.now() - started);
  return {
    started: true,
    status: { code, signal, success: code === 0 },
    durationMs,
  };
}

/**
 * Start the job in a session of its own: by `posix_spawn` (spawn.ts), or,
 * where libc cannot be used, by `Deno.Command` with `detached`.
 */
function startJob(
  name: string,
  program: string,
  args: string[],
  env: Readonly<Record<string, string>> | undefined,
  path: string | undefined,
): { pid: number; status: Promise<JobStatus> } {
  const spawned = spawnSession(name, args, env, path);
  if (typeof spawned !== "string") return spawned;
  const child = new Deno.Command(program, {
    args,
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
    detached: true, // its own session and process group (setsid)
    ...(env === undefined ? {} : { env, clearEnv: true }),
  }).spawn();
  return { pid: child.pid, status: childStatus(child) };
}

/** The process group led by `pid` (the job's, since it has its own session). */
function groupOf(pid: number): SignalTarget {
  return { kill: (signal) => Deno.kill(-pid, signal) };
}

/**
 * The child's status. Deno 2.9 has no name for the real-time signals (32–64)
 * and rejects with "Invalid signal: n" when one killed the child, after
 * reaping it: that is still 128 + n, with no signal name.
 */
async function childStatus(
  child: Deno.ChildProcess,
): Promise<JobStatus> {
  try {
    const { code, signal } = await child.status;
    return { code, signal };
  } catch (error) {
    const number = /^Invalid signal: (\d+)$/.exec((error as Error)?.message);
    if (number === null) throw error;
    return { code: EXIT_SIGNAL_BASE + Number(number[1]), signal: null };
  }
}

/** The exit status of a job stopped by `signal` before it started: 128 + n. */
export function stoppedBySignal(signal: Deno.Signal): ExitStatus {
  const number = SIGNAL_NUMBERS[signal] ?? 15;
  return { code: EXIT_SIGNAL_BASE + number, signal, success: false };
}

/**
 * The job's environment when it must differ from the wrapper's: `env` as
 * given, without what Deno 2.9 adds to `PATH` (its own `node_compat_bin`
 * folder, which runs Deno as `node`): the whole `PATH` when there was none,
 * its first entry otherwise. Undefined: the wrapper's own, inherited.
 */
export function jobEnv(
  env: Readonly<Record<string, string>> | undefined,
  own: () => Record<string, string> = () => Deno.env.toObject(),
): Readonly<Record<string, string>> | undefined {
  const path = env === undefined ? Deno.env.get("PATH") : env.PATH;
  if (path === undefined) return env;
  const cleaned = withoutDenosFolder(path);
  if (cleaned === path) return env;
  const { PATH: _, ...rest } = env ?? own();
  return cleaned === undefined ? rest : { ...rest, PATH: cleaned };
}

/** `path` without the folder Deno puts first; undefined if nothing is left. */
export function withoutDenosFolder(path: string): string | undefined {
  const [first, ...rest] = path.split(":");
  if (!first!.endsWith("/node_compat_bin")) return path;
  return rest.length === 0 ? undefined : rest.join(":");
}

/**
 * The program to run for `name`: with `PATH` unset, found in the default
 * search path as `execvp` would (Deno would not find it at all); otherwise
 * `name` itself.
 */
export function searchDefaultPath(
  name: string,
  path: string | undefined,
  isFile = (file: string) => {
    try {
      return Deno.statSync(file).isFile;
    } catch {
      return false;
    }
  },
): string {
  if (path !== undefined) return name;
  return candidates(name, undefined, isFile)[0] ?? name;
}
