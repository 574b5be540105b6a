/**
 * The job started by libc's `posix_spawn` with `POSIX_SPAWN_SETSID`: in a
 * session of its own, as `Deno.Command`'s `detached` starts it, without
 * forking the wrapper. `detached` runs `setsid` in a pre-exec hook, which
 * makes Rust fork and exec: on the machines measured, copying the wrapper's
 * page tables and tearing them down at the exec cost ~20 ms of every start
 * (issue 14); `posix_spawn` shares the address space until the exec (vfork).
 *
 * The child starts as Rust's `Command` starts it: signal mask empty, SIGPIPE
 * at its default (and glibc's 32 and 33, which its `posix_spawn` would leave
 * ignored), other ignored signals still ignored (the exec keeps them), fds
 * 0–2 inherited and every other fd of the wrapper's closed at the exec
 * (Deno opens them close-on-exec). Its environment is the wrapper's own
 * `environ`, bytes and all, unless one is given. PATH is searched as
 * `execvp` searches it: each folder in turn, EACCES remembered, a file with
 * no #! line run by /bin/sh. Its status is read on SIGCHLD with
 * `waitpid(pid, WNOHANG)`. Linux with `--allow-ffi` only: elsewhere
 * `spawnSession` returns why, and run.ts uses `Deno.Command`.
 * @module
 */
import { SIGNAL_NUMBERS } from "./dispositions.ts";
import { EXIT_SIGNAL_BASE, EXIT_SOFTWARE } from "./exit_codes.ts";
import { spawnLibc } from "./libc.ts";

/** A started job: its pid, and its status once it has ended. */
export interface Spawned {
  pid: number;
  status: Promise<{ code: number; signal: Deno.Signal | null }>;
}

const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSID = 0x80;
const WNOHANG = 1;
const ENOENT = 2;
const ENOEXEC = 8;
const EACCES = 13;
/** Errors after which `execvp` goes on to PATH's next folder. */
const NEXT_FOLDER = new Set([ENOENT, 19, 20, 110, 116]); // ENODEV ENOTDIR ETIMEDOUT ESTALE
/** Reset to their default in the job: SIGPIPE, and glibc's internal 32, 33. */
const DEFAULT_SIGNALS = [13, 32, 33];
/** glibc's search path when PATH is unset. */
const DEFAULT_PATH = ["/bin", "/usr/bin"];
/** What `execvp` runs a file with no #! line with. */
const SHELL = "/bin/sh";
/** Bytes of glibc's `sigset_t` and (rounded up) `posix_spawnattr_t`. */
const SIGSET_BYTES = 128;
const ATTR_BYTES = 512;

const NAMES = new Map(
  Object.entries(SIGNAL_NUMBERS).map(([name, n]) => [n, name as Deno.Signal]),
);

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
  const envArray = pointers(envStrings); // alive until the spawns are done
  const envp = env === undefined
    ? new Deno.UnsafePointerView(c.environ as Deno.PointerObject).getPointer()
    : Deno.UnsafePointer.of(envArray);
  const attr = new Uint8Array(ATTR_BYTES);
  const defaults = new Uint8Array(SIGSET_BYTES);
  for (const n of DEFAULT_SIGNALS) {
    defaults[(n - 1) >> 3]! |= 1 << ((n - 1) & 7);
  }
  c.posix_spawnattr_init(attr);
  c.posix_spawnattr_setflags(
    attr,
    POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF,
  );
  c.posix_spawnattr_setsigmask(attr, new Uint8Array(SIGSET_BYTES));
  c.posix_spawnattr_setsigdefault(attr, defaults);
  const pid = new Int32Array(1);
  const spawn = (file: string, argv: string[]) => {
    const strings = [file, ...argv].map(cString);
    const array = pointers(strings.slice(1));
    return c.posix_spawn(pid, strings[0]!, null, attr, array, envp);
  };
  // The listener first: a status is never reaped before it can be read.
  const exit = watchExit(c.waitpid);
  let errno = ENOENT;
  let denied = false;
  for (const file of candidates(name, path)) {
    errno = spawn(file, [name, ...args]);
    if (errno === ENOEXEC) { // execvp's fallback: a shell script with no #!
      const shell = spawn(SHELL, [SHELL, file, ...args]);
      errno = shell === ENOENT ? ENOEXEC : shell;
    }
    if (errno === EACCES) denied = true;
    else if (!NEXT_FOLDER.has(errno)) break; // started (0), or a real failure
  }
  c.posix_spawnattr_destroy(attr);
  void envArray;
  if (errno !== 0) {
    exit.cancel();
    throw spawnError(NEXT_FOLDER.has(errno) && denied ? EACCES : errno, name);
  }
  return { pid: pid[0]!, status: exit.status(pid[0]!) };
}

/**
 * The files `execvp` tries for `name`, in order: itself when it holds a "/",
 * else `name` in each of `path`'s folders (an empty one is the current
 * folder; PATH unset: /bin, /usr/bin) where something of that name exists.
 * None: the name is not found (never a file of that name here).
 */
export function candidates(
  name: string,
  path: string | undefined,
  exists = (file: string): boolean => {
    try {
      Deno.statSync(file);
      return true;
    } catch {
      return false;
    }
  },
): string[] {
  if (name === "") return [];
  if (name.includes("/")) return [name];
  const folders = path === undefined ? DEFAULT_PATH : path.split(":");
  return folders.map((folder) => `${folder === "" ? "." : folder}/${name}`)
    .filter(exists);
}

/**
 * Listens for SIGCHLD from now on; `status(pid)` resolves once that child
 * has ended. A status that cannot be read (no such child) is the wrapper's
 * internal error (70), never a wait without end.
 */
function watchExit(
  waitpid: (pid: number, status: Uint8Array, options: number) => number,
): { status(pid: number): Spawned["status"]; cancel(): void } {
  const raw = new Int32Array(1);
  let check = () => {};
  const listener = () => check();
  Deno.addSignalListener("SIGCHLD", listener);
  const cancel = () => Deno.removeSignalListener("SIGCHLD", listener);
  const status = (pid: number): Spawned["status"] =>
    new Promise((resolve) => {
      check = () => {
        const got = waitpid(pid, new Uint8Array(raw.buffer), WNOHANG);
        if (got === 0) return; // still running
        cancel();
        resolve(
          got === pid
            ? decodeStatus(raw[0]!)
            : { code: EXIT_SOFTWARE, signal: null },
        );
      };
      check(); // it may have ended already
    });
  return { status, cancel };
}

/** A `waitpid` status as Deno reports one: exit code, or 128 + n and the signal's name. */
export function decodeStatus(
  raw: number,
): { code: number; signal: Deno.Signal | null } {
  const signal = raw & 0x7f;
  if (signal === 0) return { code: (raw >> 8) & 0xff, signal: null };
  return { code: EXIT_SIGNAL_BASE + signal, signal: NAMES.get(signal) ?? null };
}

/** `posix_spawn`'s error as the one `Deno.Command` throws. */
function spawnError(errno: number, name: string): Error {
  if (errno === ENOENT || errno === 20) {
    return new Deno.errors.NotFound(`No such file or directory: ${name}`);
  }
  if (errno === EACCES || errno === 1 || errno === 21) { // EPERM, EISDIR
    return new Deno.errors.PermissionDenied(`Permission denied: ${name}`);
  }
  const why: Record<number, string> = {
    7: "argument list too long",
    8: "exec format error (no #! line, and no /bin/sh)",
    26: "text file busy",
    40: "too many levels of symbolic links",
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
