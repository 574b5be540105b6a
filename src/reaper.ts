/**
 * Zombie reaping as PID 1. Orphans re-parented to the wrapper (a job's
 * `sh -c "daemon &"`) stay zombies, each holding a PID against the pod's
 * limit, unless PID 1 waits for them: tini and dumb-init do, and so does
 * bash as PID 1. Deno waits only for the children it spawned, so on each
 * SIGCHLD the wrapper peeks at which child can be waited for
 * (`waitid(P_ALL, WNOWAIT)`) and reaps it only if it is none of its own:
 * a child the wrapper spawned (the job, a plugin process) is left to Deno,
 * which reports its status.
 *
 * Every process the wrapper spawns must be marked with `ownChild` right after
 * its spawn (run.ts, plugin_process.ts; a test counts them), or the reaper
 * could take its status from Deno.
 *
 * Not PID 1, the wrapper has no orphans to reap: they go to the container's
 * PID 1 (with `shareProcessNamespace`, the pod's pause process, which reaps).
 * @module
 */
import { libc } from "./libc.ts";

const P_ALL = 0;
const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;
/** Offset of `si_pid` in a 64-bit Linux `siginfo_t` (its union is 8-aligned). */
const SI_PID = 16;

/** Children the wrapper spawned: Deno waits for these, never the reaper. */
const own = new Set<number>();

/** Mark `pid` as the wrapper's own child until its status is known. */
export function ownChild(pid: number, status: Promise<unknown>): void {
  own.add(pid);
  const done = () => {
    own.delete(pid);
    reap(); // an orphan that exited beside it may wait behind it
  };
  status.then(done, done);
}

let peek: (() => number) | undefined;
let reapOne: ((pid: number) => void) | undefined;

/**
 * Reap every orphan that has exited; returns how many. Stops at a child of
 * the wrapper's own (it is reaped by Deno, and `ownChild` calls again).
 */
export function reap(): number {
  if (peek === undefined || reapOne === undefined) return 0;
  let count = 0;
  for (let pid = peek(); pid > 0 && !own.has(pid); pid = peek()) {
    reapOne(pid);
    count++;
  }
  return count;
}

/**
 * As PID 1, reap orphans on every SIGCHLD. Returns why it does not (not
 * PID 1, no `--allow-ffi`…), or undefined when it does.
 */
export function startReaper(isInit = Deno.pid === 1): string | undefined {
  if (!isInit) return "not PID 1";
  const c = libc();
  if (typeof c === "string") return c;
  const info = new Uint8Array(128); // siginfo_t
  const view = new DataView(info.buffer);
  peek = () => {
    info.fill(0);
    const flags = WEXITED | WNOHANG | WNOWAIT;
    if (c.waitid(P_ALL, 0, info, flags) !== 0) return 0; // no child at all
    return view.getInt32(SI_PID, true); // 0: none has exited
  };
  reapOne = (pid) => void c.waitpid(pid, null, WNOHANG);
  Deno.addSignalListener("SIGCHLD", () => reap());
  reap(); // orphans that exited before
  return undefined;
}
