/**
 * The root filesystem of the wrapper's image, built on this machine with no
 * registry: what `Containerfile` copies `FROM scratch`. No shell, no package
 * manager; only what the wrapper runs:
 *
 * - `/wrapper`: `launcher.c` compiled statically, which execs the Deno beside it on
 *   `app/js/main.js` with the wrapper's flags; or, given a compiled binary
 *   (`deno task compile`, which needs `denort`), that binary alone;
 * - `/wrapper-runtime/deno` and the libraries `ldd` lists for it;
 * - `/wrapper-runtime/app/js/`: the wrapper as JavaScript, `deno bundle`d
 *   from `main.ts` (esbuild, fetched from npm at build time) into a few
 *   modules, split where main.ts, cli.ts and log.ts import later, minified.
 *   LogTape, the wrapper's one npm package, is in it, as much of it as the
 *   wrapper uses (its licence beside it), and the built-ins. So a start
 *   transpiles nothing, reads only the chunks it runs (`laterImports`),
 *   resolves no npm package, and can download nothing (the launcher passes
 *   `--no-npm --no-remote`): ~20 ms less than the sources (issue 14).
 *   `FILES` lists the chunks, for the launcher to check;
 * - `/wrapper-runtime/app/plugins/`: the built-ins' text, for pinned
 *   built-ins and to run one sandboxed by its path.
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };

/** What the image holds of the repository as it is, beside the bundle. */
export const APP_FILES = ["plugins"] as const;

/** The bundle's folder in the app, and its entry, run by the launcher. */
export const BUNDLE_DIR = "js";
export const BUNDLE_MAIN = `${BUNDLE_DIR}/main.js`;
/** The list of the bundle's files, which the launcher checks are all there. */
export const BUNDLE_FILES = "FILES";

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
  await bundle(deno, repo, `${runtime}/app`);
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
 * `main.ts` and everything it imports, LogTape included, as a few
 * JavaScript modules in `<app>/js`. For the browser platform, whose build
 * of LogTape imports no `node:` module (the Node one imports `node:util`);
 * names kept, so that an internal error's stack still reads.
 */
async function bundle(deno: string, repo: string, app: string): Promise<void> {
  const outdir = `${app}/${BUNDLE_DIR}`;
  await run(deno, [
    "bundle",
    "--quiet",
    "--frozen",
    "--config",
    `${repo}deno.json`,
    "--platform",
    "browser",
    "--code-splitting",
    "--minify",
    "--keep-names",
    "--outdir",
    outdir,
    `${repo}main.ts`,
  ]);
  const names = [...Deno.readDirSync(outdir)].map((entry) => entry.name);
  for (const name of names) {
    const text = await Deno.readTextFile(`${outdir}/${name}`);
    if (/\b(from|import)\s*\(?\s*["'](node|npm|jsr|https?):/.test(text)) {
      throw new Error(`${BUNDLE_DIR}/${name} imports a package or URL`);
    }
    await Deno.writeTextFile(`${outdir}/${name}`, laterImports(text, names));
  }
  // What the launcher checks is all there before it starts Deno.
  await Deno.writeTextFile(
    `${outdir}/${BUNDLE_FILES}`,
    names.join("\n") + "\n",
  );
  const specifier = denoJson.imports["@logtape/logtape"];
  const { npmCache } = JSON.parse(await run(deno, ["info", "--json"]));
  const version = specifier.slice(specifier.lastIndexOf("@") + 1);
  await Deno.copyFile(
    `${npmCache}/registry.npmjs.org/@logtape/logtape/${version}/LICENSE`,
    `${outdir}/LICENSE.logtape`,
  );
}

/**
 * The bundle's dynamic imports of its own chunks, hidden from Deno's module
 * graph: Deno reads and analyses every module a literal `import("./x.js")`
 * names before the program starts, so the chunks of `--help`, `--install`,
 * file plugins and the other built-ins cost every start (~5 ms here).
 * `import(String("./x.js"))` loads the same module, when it runs.
 */
export function laterImports(text: string, chunks: readonly string[]): string {
  return text.replace(
    /\bimport\("\.\/([\w.-]+\.js)"\)/g,
    (literal, name: string) =>
      chunks.includes(name) ? `import(String("./${name}"))` : literal,
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
