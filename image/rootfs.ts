/**
 * The root filesystem of the wrapper's image, built on this machine with no
 * registry: what `Containerfile` copies `FROM scratch`. No shell, no package
 * manager; only what the wrapper runs:
 *
 * - `/wrapper`: `launcher.c` compiled statically, which execs the Deno beside it on
 *   `main.ts` with the wrapper's flags; or, given a compiled binary
 *   (`deno task compile`, which needs `denort`), that binary alone;
 * - `/wrapper-runtime/deno` and the libraries `ldd` lists for it;
 * - `/wrapper-runtime/app/`: `main.ts`, `mod.ts`, `src/`, `plugins/`, and
 *   LogTape, the wrapper's one npm package, bundled by `deno bundle` into
 *   `vendor/logtape.js` (its licence beside it), which a `deno.json` of the
 *   image's own maps the package's specifier to. So a start resolves no npm
 *   package (Deno's npm resolver and Node compatibility layer never load)
 *   and can download nothing: the launcher passes `--no-npm --no-remote`.
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/** The files of the repository the wrapper runs from. */
export const APP_FILES = ["main.ts", "mod.ts", "src", "plugins"] as const;

/** The bundle the image's import map points LogTape's specifier at. */
export const LOGTAPE_BUNDLE = "vendor/logtape.js";

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
  await bundleLogTape(deno, repo, `${runtime}/app`);
  // Static: it runs in any glibc image (Deno itself needs glibc 2.27), not
  // only in those at least as new as the build machine's.
  await run(options.cc ?? "cc", [
    "-static",
    "-s",
    "-O2",
    "-Wall",
    "-o",
    `${out}/wrapper`,
    `${repo}image/launcher.c`,
  ]);
}

/**
 * LogTape as one ES module: `deno bundle` (esbuild, fetched from npm) of the
 * package the repository locks, for the browser platform, whose build of
 * LogTape imports no `node:` module (the Node one imports `node:util`).
 */
async function bundleLogTape(
  deno: string,
  repo: string,
  app: string,
): Promise<void> {
  const specifier = denoJson.imports["@logtape/logtape"];
  const entry = `${app}/vendor/entry.ts`;
  await Deno.mkdir(`${app}/vendor`);
  await Deno.writeTextFile(entry, `export * from "${specifier}";\n`);
  await run(deno, [
    "bundle",
    "--quiet",
    "--frozen",
    "--config",
    `${repo}deno.json`,
    "--platform",
    "browser",
    "--minify",
    "-o",
    `${app}/${LOGTAPE_BUNDLE}`,
    entry,
  ]);
  await Deno.remove(entry);
  const bundle = await Deno.readTextFile(`${app}/${LOGTAPE_BUNDLE}`);
  if (/["']node:/.test(bundle)) {
    throw new Error(`${LOGTAPE_BUNDLE} imports a node: module`);
  }
  const { npmCache } = JSON.parse(await run(deno, ["info", "--json"]));
  const version = specifier.slice(specifier.lastIndexOf("@") + 1);
  await Deno.copyFile(
    `${npmCache}/registry.npmjs.org/@logtape/logtape/${version}/LICENSE`,
    `${app}/vendor/LICENSE.logtape`,
  );
  const target = `./${LOGTAPE_BUNDLE}`;
  await Deno.writeTextFile(
    `${app}/deno.json`,
    JSON.stringify(
      {
        version: denoJson.version, // --version (a "name" would ask for "exports")
        imports: { [specifier]: target, "@logtape/logtape": target },
      },
      null,
      2,
    ) + "\n",
  );
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
