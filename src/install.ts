/**
 * `wrapper --install <folder>`: copy the wrapper into a folder, for an init
 * container whose image has no `cp` (distroless). The job's container then
 * runs `<folder>/wrapper` from a shared `emptyDir`, so its image needs no
 * rebuild (the pattern of kubexit and Argo's emissary).
 *
 * A compiled binary copies itself. Under `deno run`, the wrapper must run
 * from the image's layout (image/rootfs.ts): `<prefix>/wrapper` (the
 * launcher) beside `<prefix>/wrapper-runtime/` (Deno, the app and its npm
 * packages); both are copied. Each lands under a temporary name first and is
 * renamed into place, so a restarted init container never leaves half a
 * wrapper, and a job container never runs one.
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

/** Where the running wrapper's files are, or why it cannot copy itself. */
export function installSource(
  standalone = Deno.build.standalone,
  here = new URL("..", import.meta.url),
): { files: Array<[string, string]> } | { problem: string } {
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
    files: [[`${prefix}/wrapper`, "wrapper"], [runtime, "wrapper-runtime"]],
  };
}

/** Copy the wrapper into `dir`, which must be an existing folder. */
export async function install(
  dir: string,
  source = installSource(),
): Promise<Installed> {
  if ("problem" in source) {
    throw new UsageError(`Cannot install: ${source.problem}`);
  }
  const info = await Deno.stat(dir).catch(() => undefined);
  if (!info?.isDirectory) {
    throw new UsageError(
      `Cannot install into ${dir}: not a folder (mount an emptyDir there)`,
    );
  }
  const target = dir.replace(/\/+$/, "") || "/";
  let bytes = 0;
  for (const [from, name] of source.files) {
    const temporary = `${target}/.${name}.installing-${Deno.pid}`;
    await Deno.remove(temporary, { recursive: true }).catch(() => {});
    bytes += await copyTree(from, temporary);
    await Deno.remove(`${target}/${name}`, { recursive: true }).catch(() => {});
    await Deno.rename(temporary, `${target}/${name}`);
  }
  return { wrapper: `${target}/wrapper`.replace(/^\/\//, "/"), bytes };
}

/** Copy a file, a symbolic link or a folder, keeping modes; the bytes copied. */
async function copyTree(from: string, to: string): Promise<number> {
  const info = await Deno.lstat(from);
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
    bytes += await copyTree(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
  return bytes;
}
