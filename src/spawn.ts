/**
 * The job started by libc's `posix_spawn` with `POSIX_SPAWN_SETSID`: in a
 * session of its own, as `Deno.Command`'s `detached` starts it, without
 * forking the wrapper. `detached` runs `setsid` in a pre-exec hook, which
 * makes Rust fork and exec: on the machines measured, copying the wrapper's
 * page tables and tearing them down at the exec cost ~20 ms of every start
 * (issue 14); `posix_spawn` shares the address space until the exec (vfork).
 *
 * The child starts as Rust's `Command` starts it: signal mask empty, SIGPIPE
 * at its default, ignored signals still ignored (the exec keeps them), fds
 * 0–2 inherited and every other fd of the wrapper's closed at the exec
 * (Deno opens them close-on-exec). Its environment is the wrapper's own
 * `environ`, bytes and all, unless one is given. Its status is read on
 * SIGCHLD with `waitpid(pid, WNOHANG)`. Linux with `--allow-ffi` only:
 * elsewhere `spawnSession` returns why, and run.ts uses `Deno.Command`.
 * @module
 */
import { SIGNAL_NUMBERS } from "./dispositions.ts";
import { EXIT_SIGNAL_BASE } from "./exit_codes.ts";
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
const SIGPIPE = 13;
/** Bytes of glibc's `sigset_t` and (rounded up) `posix_spawnattr_t`. */
const SIGSET_BYTES = 128;
const ATTR_BYTES = 512;

const NAMES = new Map(
  Object.entries(SIGNAL_NUMBERS).map(([name, n]) => [n, name as Deno.Signal]),
);

/**
 * Start `program` (a path, or a name looked up in `env`'s PATH, else the
 * wrapper's) with `args`. Throws `Deno.errors.NotFound` or
 * `PermissionDenied` as `Deno.Command` would; returns a string (why) when
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
  const program = findProgram(name, path);
  const strings = [program, name, ...args].map(cString);
  const argv = pointers(strings.slice(1));
  const envStrings = env === undefined
    ? []
    : Object.entries(env).map(([key, value]) => cString(`${key}=${value}`));
  const envp = env === undefined
    ? new Deno.UnsafePointerView(c.environ as Deno.PointerObject).getPointer()
    : Deno.UnsafePointer.of(pointers(envStrings));
  const attr = new Uint8Array(ATTR_BYTES);
  const empty = new Uint8Array(SIGSET_BYTES);
  const pipe = new Uint8Array(SIGSET_BYTES);
  pipe[(SIGPIPE - 1) >> 3] = 1 << ((SIGPIPE - 1) & 7);
  c.posix_spawnattr_init(attr);
  c.posix_spawnattr_setflags(
    attr,
    POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF,
  );
  c.posix_spawnattr_setsigmask(attr, empty);
  c.posix_spawnattr_setsigdefault(attr, pipe);
  const pid = new Int32Array(1);
  const errno = c.posix_spawn(pid, strings[0]!, null, attr, argv, envp);
  c.posix_spawnattr_destroy(attr);
  void envStrings; // alive until here: envp points into them
  if (errno !== 0) throw spawnError(errno, program);
  return { pid: pid[0]!, status: statusOf(pid[0]!, c.waitpid) };
}

/**
 * Where `execvp` would find `name`: itself when it holds a "/", else the
 * first executable regular file of that name in `path`'s folders (an empty
 * one is the current folder; PATH unset: /bin, /usr/bin). None executable
 * but one there: that one, so that the spawn reports "permission denied".
 */
export function findProgram(
  name: string,
  path: string | undefined,
  stat = (file: string): Deno.FileInfo | undefined => {
    try {
      return Deno.statSync(file);
    } catch {
      return undefined;
    }
  },
): string {
  if (name.includes("/") || name === "") return name;
  const folders = path === undefined ? ["/bin", "/usr/bin"] : path.split(":");
  let denied: string | undefined;
  for (const folder of folders) {
    const file = `${folder === "" ? "." : folder}/${name}`;
    const info = stat(file);
    if (!info?.isFile) continue;
    if (((info.mode ?? 0) & 0o111) !== 0) return file;
    denied ??= file;
  }
  return denied ?? name;
}

/** The status of `pid` once it has ended, read on each SIGCHLD. */
function statusOf(
  pid: number,
  waitpid: (pid: number, status: Uint8Array, options: number) => number,
): Spawned["status"] {
  return new Promise((resolve) => {
    const raw = new Int32Array(1);
    const check = () => {
      if (waitpid(pid, new Uint8Array(raw.buffer), WNOHANG) !== pid) return;
      Deno.removeSignalListener("SIGCHLD", check);
      resolve(decodeStatus(raw[0]!));
    };
    Deno.addSignalListener("SIGCHLD", check);
    check(); // it may have ended before the listener
  });
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
function spawnError(errno: number, program: string): Error {
  if (errno === ENOENT) {
    return new Deno.errors.NotFound(`No such file or directory: ${program}`);
  }
  // EACCES, EISDIR, ENOEXEC, EPERM, ENOTDIR, ETXTBSY…: not runnable.
  return new Deno.errors.PermissionDenied(
    `Cannot execute ${program} (errno ${errno})`,
  );
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
