/**
 * The root filesystem of the wrapper's image, built on this machine with no
 * registry: what `Containerfile` copies `FROM scratch`. No shell, no package
 * manager; only what the wrapper runs:
 *
 * - `/wrapper`: `launcher.c` compiled, which execs the Deno beside it on
 *   `main.ts` with the wrapper's flags; or, given a compiled binary
 *   (`deno task compile`, which needs `denort`), that binary alone;
 * - `/wrapper-runtime/deno` and the libraries `ldd` lists for it;
 * - `/wrapper-runtime/app/`: `deno.json`, `deno.lock`, `main.ts`, `mod.ts`,
 *   `src/`, `plugins/` and `node_modules/` holding the runtime's npm packages
 *   (LogTape only), prepared now so that no start ever downloads anything.
 * @module
 */

/** The files of the repository the wrapper runs from. */
export const APP_FILES = [
  "deno.json",
  "deno.lock",
  "main.ts",
  "mod.ts",
  "src",
  "plugins",
] as const;

/** What goes into the image. */
export interface RootfsOptions {
  /** The repository (default: this one). */
  repo?: string;
  /** The Deno binary to ship (default: the one running). */
  deno?: string;
  /** A compiled wrapper (`dist/wrapper`) to ship instead of Deno and the app. */
  compiled?: string;
  /** The C compiler for the launcher (default `cc`). */
  cc?: string;
}

const REPO = new URL("..", import.meta.url).pathname;

/** Build the root filesystem into `out` (created; must not exist). */
export async function buildRootfs(
  out: string,
  options: RootfsOptions = {},
): Promise<void> {
  const repo = options.repo ?? REPO;
  await Deno.mkdir(out, { recursive: false });
  for (const dir of ["proc", "dev", "tmp", "etc/podinfo"]) {
    await Deno.mkdir(`${out}/${dir}`, { recursive: true });
  }
  if (options.compiled !== undefined) {
    await Deno.copyFile(options.compiled, `${out}/wrapper`);
    await copyLibraries(options.compiled, out);
    return;
  }
  const runtime = `${out}/wrapper-runtime`;
  await Deno.mkdir(`${runtime}/app`, { recursive: true });
  const deno = await Deno.realPath(options.deno ?? Deno.execPath());
  await Deno.copyFile(deno, `${runtime}/deno`);
  await copyLibraries(deno, out);
  for (const name of APP_FILES) {
    await run("cp", ["-R", `${repo}${name}`, `${runtime}/app/${name}`]);
  }
  await run(deno, [
    "install",
    "--frozen",
    "--node-modules-dir=manual",
    "--config",
    `${runtime}/app/deno.json`,
  ], `${runtime}/app`);
  await run(options.cc ?? "cc", [
    "-O2",
    "-Wall",
    "-o",
    `${out}/wrapper`,
    `${repo}image/launcher.c`,
  ]);
}

/** Copy the shared libraries `ldd` lists for `binary` to the same paths under `out`. */
async function copyLibraries(binary: string, out: string): Promise<void> {
  const listing = await run("ldd", [binary]);
  for (const [path] of listing.matchAll(/\/\S+\.so[.\d]*/g)) {
    await Deno.mkdir(`${out}${path.slice(0, path.lastIndexOf("/"))}`, {
      recursive: true,
    });
    await Deno.copyFile(await Deno.realPath(path), `${out}${path}`);
  }
}

/** Run a program; its stdout, or an error with its stderr. */
async function run(
  program: string,
  args: string[],
  cwd?: string,
): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command(program, {
    args,
    ...(cwd === undefined ? {} : { cwd }),
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  if (!success) {
    throw new Error(
      `${program} ${args.join(" ")} failed: ${text.decode(stderr).trim()}`,
    );
  }
  return text.decode(stdout);
}
