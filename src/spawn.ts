/**
 * The job started by libc's `posix_spawn` with `POSIX_SPAWN_SETSID`: in a
 * session of its own, as `Deno.Command`'s `detached` starts it, without
 * forking the wrapper. `detached` runs `setsid` in a pre-exec hook, which
 * makes Rust fork and exec: on the machines measured, copying the wrapper's
 * page tables and tearing them down at the exec cost ~20 ms of every start
 * (issue 14); `posix_spawn` shares the address space until the exec (vfork).
 *
 * The child starts as it would alone, or under tini: the signal mask the
 * wrapper was started with, SIGPIPE at its default (Deno ignores it) and
 * glibc's 32 and 33 too (its `posix_spawn` would leave them ignored), the
 * signals ignored at start still ignored (the exec keeps them), the fds the
 * wrapper inherited (its own are close-on-exec), and its `environ`, bytes
 * and all, unless an environment is given. PATH is searched as `execvp`
 * searches it: each folder in turn, EACCES remembered, a file with no #!
 * line run by /bin/sh. Its status comes from a blocking `waitpid` on one of
 * Deno's threads. Linux with `--allow-ffi` only: elsewhere `spawnSession`
 * returns why, and run.ts uses `Deno.Command` (whose child gets an empty
 * mask, its path as argv[0], and no /bin/sh fallback).
 * @module
 */
import { SIGNAL_NUMBERS } from "./dispositions.ts";
import { EXIT_SIGNAL_BASE, EXIT_SOFTWARE } from "./exit_codes.ts";
import { type SpawnLibc, spawnLibc } from "./libc.ts";

/**
 * An exit code, and the signal's name when one ended the job; `lost` when
 * its status could not be read (the code is then the wrapper's 70).
 */
export type JobStatus = {
  code: number;
  signal: Deno.Signal | null;
  lost?: boolean;
};

/** A started job: its pid, and its status once it has ended. */
export interface Spawned {
  pid: number;
  status: Promise<JobStatus>;
}

const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSID = 0x80;
const WNOHANG = 1;
const F_OK = 0;
const EPERM = 1;
const ENOENT = 2;
const E2BIG = 7;
const ENOEXEC = 8;
const EACCES = 13;
const ENODEV = 19;
const ENOTDIR = 20;
const EISDIR = 21;
const ETXTBSY = 26;
const ELOOP = 40;
const ETIMEDOUT = 110;
const ESTALE = 116;
/** Errors after which `execvp` goes on to PATH's next folder. */
const NEXT_FOLDER = new Set([ENOENT, ENODEV, ENOTDIR, ETIMEDOUT, ESTALE]);
/** Reset to their default in the job: SIGPIPE, and glibc's internal 32, 33. */
const DEFAULT_SIGNALS = [13, 32, 33];
/** Where `execvp` looks when `PATH` is unset (glibc's default search path). */
const DEFAULT_SEARCH_PATH: readonly string[] = ["/bin", "/usr/bin"];
/** What `execvp` runs a file with no #! line with. */
const SHELL = "/bin/sh";
/** Bytes of glibc's `sigset_t` and (rounded up) `posix_spawnattr_t`. */
const SIGSET_BYTES = 128;
const ATTR_BYTES = 512;

/** Buffers libc reads during a spawn, held where no collection can free them. */
let _pinned: unknown;

const NAMES = new Map(
  Object.entries(SIGNAL_NUMBERS).map(([name, n]) => [n, name as Deno.Signal]),
);

/**
 * Load the libc symbols a spawn needs, and call each kind once, ahead of
 * time: called while the readiness waits are idle, it takes ~3 ms off the
 * path from a sidecar turning ready to the job's start.
 */
export function prepareSpawn(): void {
  const c = spawnLibc();
  if (typeof c === "string") return;
  const attr = new Uint8Array(ATTR_BYTES);
  c.posix_spawnattr_init(attr);
  c.posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSID);
  accessError(c)("/");
  c.posix_spawnattr_setsigdefault(attr, new Uint8Array(SIGSET_BYTES));
  c.posix_spawnattr_destroy(attr);
}

/**
 * Start `name` (a path, or a name looked up in `path`) with `args`. Throws
 * `Deno.errors.NotFound` or `PermissionDenied` as `Deno.Command` would, or
 * an `Error` saying why the file cannot run; returns why (a string) when
 * libc cannot be used.
 */
export function spawnSession(
  name: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> | undefined,
  path: string | undefined,
): Spawned | string {
  const c = spawnLibc();
  if (typeof c === "string") return c;
  const envStrings = env === undefined
    ? []
    : Object.entries(env).map(([key, value]) => cString(`${key}=${value}`));
  const envArray = pointers(envStrings);
  _pinned = [envStrings, envArray]; // what envp points into, until the spawns are done
  const envp = env === undefined
    ? new Deno.UnsafePointerView(c.environ as Deno.PointerObject).getPointer()
    : Deno.UnsafePointer.of(envArray);
  const attr = new Uint8Array(ATTR_BYTES);
  const defaults = new Uint8Array(SIGSET_BYTES);
  for (const n of DEFAULT_SIGNALS) {
    defaults[(n - 1) >> 3]! |= 1 << ((n - 1) & 7);
  }
  c.posix_spawnattr_init(attr);
  c.posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF);
  c.posix_spawnattr_setsigdefault(attr, defaults);
  const pid = new Int32Array(1);
  const spawn = (file: string, argv: string[]) => {
    const strings = [file, ...argv].map(cString);
    const array = pointers(strings.slice(1));
    return c.posix_spawn(pid, strings[0]!, null, attr, array, envp);
  };
  let errno = ENOENT;
  let denied = false;
  const missing = accessError(c);
  for (const file of candidates(name, path)) {
    // A file that is not there costs an access(2), not a spawn; its error
    // (ENOENT, EACCES on the way, ELOOP…) counts as execve's would.
    errno = missing(file) || spawn(file, [name, ...args]);
    if (errno === ENOEXEC) { // execvp's fallback: a shell script with no #!
      const shell = spawn(SHELL, [SHELL, file, ...args]);
      errno = shell === ENOENT ? ENOEXEC : shell;
    }
    if (errno === EACCES) denied = true;
    else if (!NEXT_FOLDER.has(errno)) break; // started (0), or a real failure
  }
  c.posix_spawnattr_destroy(attr);
  _pinned = undefined;
  if (errno !== 0) {
    throw spawnError(NEXT_FOLDER.has(errno) && denied ? EACCES : errno, name);
  }
  return { pid: pid[0]!, status: statusOf(pid[0]!, c) };
}

/**
 * access(2)'s error for `file`, or 0 when it exists: a stat would throw an
 * exception for each missing file (~0.2 ms). errno is read at once, on the
 * thread that made the call.
 */
function accessError(c: SpawnLibc): (file: string) => number {
  const errno = new Deno.UnsafePointerView(
    c.__errno_location() as Deno.PointerObject,
  );
  return (file) => c.access(cString(file), F_OK) === 0 ? 0 : errno.getInt32();
}

/**
 * The files `execvp` tries for `name`, in order: itself when it holds a "/",
 * else `name` in each of `path`'s folders (an empty one is the current
 * folder; PATH unset: /bin, /usr/bin), only those `exists` accepts when it
 * is given. None: the name is not found (never a file of that name here).
 */
export function candidates(
  name: string,
  path: string | undefined,
  exists: (file: string) => boolean = () => true,
): string[] {
  if (name === "") return [];
  if (name.includes("/")) return [name];
  // An empty PATH counts as none (execvp would search the working folder).
  const folders = path === undefined || path === ""
    ? DEFAULT_SEARCH_PATH
    : path.split(":");
  return folders.map((folder) => `${folder === "" ? "." : folder}/${name}`)
    .filter(exists);
}

/**
 * The status of `pid` once it has ended: a blocking `waitpid` on one of
 * Deno's threads. No SIGCHLD is needed, so a wrapper started with SIGCHLD
 * blocked or ignored still sees the job end. A `-1` (interrupted, or no
 * such child) is checked without blocking: still running, wait again; gone
 * without a status, the wrapper's internal error (70), never a wait without
 * end.
 */
async function statusOf(pid: number, c: SpawnLibc): Promise<JobStatus> {
  const raw = new Int32Array(1);
  const bytes = new Uint8Array(raw.buffer);
  for (;;) {
    let got = await c.waitpidBlocking(pid, bytes, 0);
    if (got === -1) got = c.waitpid(pid, bytes, WNOHANG);
    if (got === pid) return decodeStatus(raw[0]!);
    if (got === -1) return { code: EXIT_SOFTWARE, signal: null, lost: true };
  }
}

/** A `waitpid` status as Deno reports one: exit code, or 128 + n and the signal's name. */
export function decodeStatus(raw: number): JobStatus {
  const signal = raw & 0x7f;
  if (signal === 0) return { code: (raw >> 8) & 0xff, signal: null };
  return { code: EXIT_SIGNAL_BASE + signal, signal: NAMES.get(signal) ?? null };
}

/** `posix_spawn`'s error as the one `Deno.Command` throws. */
function spawnError(errno: number, name: string): Error {
  if (errno === ENOENT || errno === ENOTDIR) {
    return new Deno.errors.NotFound(`No such file or directory: ${name}`);
  }
  if (errno === EACCES || errno === EPERM || errno === EISDIR) {
    return new Deno.errors.PermissionDenied(`Permission denied: ${name}`);
  }
  const why: Record<number, string> = {
    [E2BIG]: "argument list too long",
    [ENOEXEC]: "exec format error (no #! line, and no /bin/sh)",
    [ETXTBSY]: "text file busy",
    [ELOOP]: "too many levels of symbolic links",
  };
  return new Error(why[errno] ?? `cannot execute (errno ${errno})`);
}

const encoder = new TextEncoder();
function cString(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(`${text}\0`) as Uint8Array<ArrayBuffer>;
}

/** A NULL-terminated array of pointers to `strings` (kept alive by the caller). */
function pointers(
  strings: Uint8Array<ArrayBuffer>[],
): BigUint64Array<ArrayBuffer> {
  const array = new BigUint64Array(strings.length + 1);
  strings.forEach((bytes, i) => {
    array[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
  });
  return array;
}
