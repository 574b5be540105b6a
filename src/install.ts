/**
 * `wrapper --install <folder>`: copy the wrapper into a folder, for an init
 * container whose image has no `cp` (distroless). The job's container then
 * runs `<folder>/wrapper` from a shared `emptyDir`, so its image needs no
 * rebuild (the pattern of kubexit and Argo's emissary).
 *
 * A compiled binary copies itself. Under `deno run`, the wrapper must run
 * from the image's layout (image/rootfs.ts): `<prefix>/wrapper` (the
 * launcher) beside `<prefix>/wrapper-runtime/` (Deno, the app); both are
 * copied. Everything is copied into a temporary folder of this install's own
 * inside the target first, then renamed into place, the runtime before the
 * launcher: an install interrupted, failed or racing another never leaves a
 * launcher whose runtime is missing or half copied.
 * @module
 */
import { UsageError } from "./errors.ts";

/** What `--install` copied, for its report. */
export interface Installed {
  /** The program the job's container runs. */
  wrapper: string;
  /** Bytes copied. */
  bytes: number;
}

/** What to copy: [source path, name in the folder], the launcher last. */
export type InstallSource = { files: Array<[string, string]> } | {
  problem: string;
};

/** Where the running wrapper's files are, or why it cannot copy itself. */
export function installSource(
  standalone = Deno.build.standalone,
  here = new URL("..", import.meta.url),
): InstallSource {
  if (standalone) return { files: [[Deno.execPath(), "wrapper"]] };
  if (here.protocol !== "file:") {
    return { problem: `the wrapper runs from ${here.href}, not from files` };
  }
  const app = decodeURIComponent(here.pathname).replace(/\/$/, "");
  const runtime = app.slice(0, app.lastIndexOf("/"));
  const prefix = runtime.slice(0, runtime.lastIndexOf("/"));
  if (!runtime.endsWith("/wrapper-runtime") || !app.endsWith("/app")) {
    return {
      problem:
        `${app} is not an installed wrapper (<prefix>/wrapper-runtime/app): run --install from the image or a compiled binary`,
    };
  }
  return {
    files: [[runtime, "wrapper-runtime"], [`${prefix}/wrapper`, "wrapper"]],
  };
}

/**
 * Copy the wrapper into `dir`, an existing folder. A stop signal (`stop`)
 * ends the copy; what was copied so far is removed.
 */
export async function install(
  dir: string,
  source: InstallSource = installSource(),
  stop?: AbortSignal,
): Promise<Installed> {
  if ("problem" in source) {
    throw new UsageError(`Cannot install: ${source.problem}`);
  }
  const target = await folder(dir);
  for (const [from] of source.files) {
    const real = await Deno.realPath(from);
    if (target === real || target.startsWith(`${real}/`)) {
      throw new UsageError(
        `Cannot install into ${target}: it is inside ${real}`,
      );
    }
  }
  await removeAbandoned(target);
  const staging = await Deno.makeTempDir({ dir: target, prefix: STAGING });
  try {
    let bytes = 0;
    for (const [from, name] of source.files) {
      bytes += await copyTree(from, `${staging}/${name}`, stop, true);
    }
    for (const [, name] of source.files) {
      const to = inFolder(target, name);
      await replace(`${staging}/${name}`, to, `${staging}/old-${name}`);
    }
    return { wrapper: inFolder(target, "wrapper"), bytes };
  } finally {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
  }
}

/** `name` inside the absolute folder `target` ("/" included). */
function inFolder(target: string, name: string): string {
  return target === "/" ? `/${name}` : `${target}/${name}`;
}

/** The prefix of an install's staging folder inside the target. */
const STAGING = ".wrapper-installing-";
/** A staging folder untouched this long was left by an install that was killed. */
export const ABANDONED_MS = 10 * 60_000;

/**
 * Remove the staging folders of installs that were killed (SIGKILL, OOM,
 * eviction: no `finally` ran): each holds a whole copy in a size-limited
 * emptyDir. A recent one may be a concurrent install's, and stays.
 */
async function removeAbandoned(target: string): Promise<void> {
  for await (const entry of Deno.readDir(target)) {
    if (!entry.name.startsWith(STAGING)) continue;
    const folder = inFolder(target, entry.name);
    const info = await Deno.lstat(folder).catch(() => undefined);
    const age = Date.now() - (info?.mtime?.getTime() ?? Date.now());
    if (age > ABANDONED_MS) {
      await Deno.remove(folder, { recursive: true }).catch(() => {});
    }
  }
}

/** The folder, absolute and resolved; a usage error when it is none. */
async function folder(dir: string): Promise<string> {
  const info = await Deno.stat(dir).catch((error) => error as Error);
  if (info instanceof Deno.errors.NotFound) {
    throw new UsageError(
      `Cannot install into ${dir}: no such folder (mount an emptyDir there)`,
    );
  }
  if (info instanceof Error) throw info;
  if (!info.isDirectory) {
    throw new UsageError(`Cannot install into ${dir}: not a folder`);
  }
  return await Deno.realPath(dir);
}

/**
 * Rename `from` to `to`. A folder already at `to` is first moved aside to
 * `aside`; if another install put a complete copy there in between, that
 * copy stands.
 */
async function replace(from: string, to: string, aside: string): Promise<void> {
  try {
    await Deno.rename(from, to); // a file replaces a file at once
    return;
  } catch (error) {
    if (!(await isFolder(to))) throw error;
  }
  await Deno.rename(to, aside).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  try {
    await Deno.rename(from, to);
  } catch (error) {
    if (!(await isFolder(to))) throw error; // else: another install's, whole
  }
}

async function isFolder(path: string): Promise<boolean> {
  return (await Deno.lstat(path).catch(() => undefined))?.isDirectory ?? false;
}

/**
 * Copy a file, a symbolic link or a folder, keeping modes; the bytes copied.
 * The top level follows a symbolic link (a runtime folder that is a link is
 * copied, not linked to a path the job's container does not have).
 */
async function copyTree(
  from: string,
  to: string,
  stop: AbortSignal | undefined,
  top = false,
): Promise<number> {
  stop?.throwIfAborted();
  const info = top ? await Deno.stat(from) : await Deno.lstat(from);
  if (info.isSymlink) {
    await Deno.symlink(await Deno.readLink(from), to);
    return 0;
  }
  if (info.isFile) {
    await Deno.copyFile(from, to);
    await Deno.chmod(to, (info.mode ?? 0o755) & 0o777);
    return info.size;
  }
  await Deno.mkdir(to);
  let bytes = 0;
  for await (const entry of Deno.readDir(from)) {
    bytes += await copyTree(
      `${from}/${entry.name}`,
      `${to}/${entry.name}`,
      stop,
    );
  }
  return bytes;
}
