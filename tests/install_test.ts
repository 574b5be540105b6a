// `wrapper --install <folder>` (src/install.ts), run from the image's root
// filesystem (image/rootfs.ts) on this machine: the launcher finds Deno beside
// itself wherever the folder is, so no container is needed here (the pod
// tests run the copy-in for real). Needs cc for the launcher.
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import {
  APP_FILES,
  buildRootfs,
  BUNDLE_DIR,
  BUNDLE_FILES,
  BUNDLE_MAIN,
  laterImports,
} from "../image/rootfs.ts";
import { BUILTIN_PLUGINS } from "../src/plugin_source.ts";
import { IS_ROOT, ROOT, textOutput, works, WRAPPER_ARGS } from "./_helpers.ts";

const cc = works("cc", ["--version"]);
const why = cc ? "" : " (ignored: needs cc, for the image's launcher)";

let rootfs: Promise<string> | undefined;
let made: string | undefined;
/** The image's root filesystem, built once for the module. */
function image(): Promise<string> {
  return rootfs ??= (async () => {
    made = await Deno.makeTempDir({ prefix: "wrapper-image-" });
    await buildRootfs(`${made}/rootfs`);
    return `${made}/rootfs`;
  })();
}
globalThis.addEventListener("unload", () => {
  if (made !== undefined) Deno.removeSync(made, { recursive: true });
});

const run = (program: string, args: string[]) =>
  textOutput(program, args, { stdin: "null" });

Deno.test({
  name:
    `--install copies the image's wrapper into a folder, from which it runs; installing again replaces it whole${why}`,
  ignore: !cc,
  fn: async () => {
    const root = await image();
    const folder = await Deno.makeTempDir();
    try {
      // A killed install's staging folder (an hour old) goes; a concurrent
      // install's (just made) stays.
      const abandoned = `${folder}/.wrapper-installing-killed`;
      const current = `${folder}/.wrapper-installing-running`;
      await Deno.mkdir(abandoned);
      await Deno.mkdir(current);
      const hourAgo = new Date(Date.now() - 3_600_000);
      await Deno.utime(abandoned, hourAgo, hourAgo);
      for (const round of [1, 2]) {
        // What was there before goes: no stale file survives an install.
        if (round === 2) {
          await Deno.writeTextFile(`${folder}/wrapper-runtime/stale`, "x");
        }
        const installed = await run(`${root}/wrapper`, ["--install", folder]);
        equal(installed.code, 0, installed.stderr);
        match(
          installed.stderr,
          new RegExp(
            `^\\[info wrapper\\] Installed wrapper=${folder}/wrapper bytes=\\d+$`,
            "m",
          ),
          `round ${round}`,
        );
      }
      const names = [...Deno.readDirSync(folder)].map((e) => e.name).sort();
      // No leftovers of its own; a concurrent install's is not its to remove.
      equal(
        names.join(),
        ".wrapper-installing-running,wrapper,wrapper-runtime",
      );
      ok(
        !(await Deno.stat(`${folder}/wrapper-runtime/stale`).catch(() =>
          false
        )),
      );
      const job = await run(`${folder}/wrapper`, ["-p", "echo", "--", "true"]);
      equal(job.code, 0, job.stderr);
      match(job.stderr, /\[info echo\] Command ended code=0/);
    } finally {
      await Deno.remove(folder, { recursive: true });
    }
  },
});

/** A copy of the image's wrapper with `broken` done to its bundle folder. */
async function partialImage(
  broken: (js: string) => Promise<void>,
): Promise<{ code: number; stderr: string; ran: boolean }> {
  const root = await image();
  const part = await Deno.makeTempDir();
  try {
    await Deno.copyFile(`${root}/wrapper`, `${part}/wrapper`);
    await Deno.chmod(`${part}/wrapper`, 0o755);
    await Deno.mkdir(`${part}/wrapper-runtime`);
    await Deno.symlink(
      `${root}/wrapper-runtime/deno`,
      `${part}/wrapper-runtime/deno`,
    );
    await run("cp", ["-R", `${root}/wrapper-runtime/app`, part]);
    await Deno.rename(`${part}/app`, `${part}/wrapper-runtime/app`);
    await broken(`${part}/wrapper-runtime/app/${BUNDLE_DIR}`);
    const { code, stderr } = await run(`${part}/wrapper`, [
      "touch",
      `${part}/ran`,
    ]);
    const ran = await Deno.stat(`${part}/ran`).then(() => true, () => false);
    return { code, stderr, ran };
  } finally {
    await Deno.remove(part, { recursive: true });
  }
}

Deno.test({
  name:
    `an image missing part of the wrapper's code exits 125 in one line from the launcher, the job not started${why}`,
  ignore: !cc,
  fn: async () => {
    // A chunk main.js imports before anything runs, one loaded later, the list.
    const main = await Deno.readTextFile(
      `${await image()}/wrapper-runtime/app/${BUNDLE_MAIN}`,
    );
    const first = /from\s*"\.\/(chunk-[\w-]+\.js)"/.exec(main)![1]!;
    for (
      const gone of [
        (name: string) => name === first,
        (name: string) => name.startsWith("cli-"),
        (name: string) => name === BUNDLE_FILES,
      ]
    ) {
      const result = await partialImage(async (js) => {
        for (const { name } of Deno.readDirSync(js)) {
          if (gone(name)) await Deno.remove(`${js}/${name}`);
        }
      });
      equal(result.code, 125, result.stderr);
      match(result.stderr, /^wrapper: cannot read \/\S+: No such file/);
      equal(result.stderr.split("\n").length, 2, result.stderr); // one line
      ok(!result.ran, "the job ran");
    }
    // A chunk that is a folder, and FILES that is one, are no better.
    for (
      const odd of [
        (name: string) => name.startsWith("cli-"),
        (name: string) => name === BUNDLE_FILES,
      ]
    ) {
      const result = await partialImage(async (js) => {
        for (const { name } of Deno.readDirSync(js)) {
          if (!odd(name)) continue;
          await Deno.remove(`${js}/${name}`);
          await Deno.mkdir(`${js}/${name}`);
        }
      });
      equal(result.code, 125, result.stderr);
      match(result.stderr, /^wrapper: cannot read \/\S+: Is a directory/);
      equal(result.stderr.split("\n").length, 2, result.stderr); // one line
      ok(!result.ran, "the job ran");
    }
  },
});

Deno.test("main.ts whose own modules are missing exits 125 in one line, the job not started", async () => {
  const copy = await Deno.makeTempDir();
  try {
    await run("cp", ["-R", `${ROOT}main.ts`, `${ROOT}src`, copy]);
    await Deno.remove(`${copy}/src/cli.ts`);
    const result = await run(Deno.execPath(), [
      ...WRAPPER_ARGS.slice(0, -1),
      "--no-config",
      "--no-lock",
      `${copy}/main.ts`,
      "touch",
      `${copy}/ran`,
    ]);
    equal(result.code, 125, result.stderr);
    match(result.stderr, /^wrapper: cannot load its own code: .*\n$/);
    ok(!(await Deno.stat(`${copy}/ran`).catch(() => false)), "the job ran");
  } finally {
    await Deno.remove(copy, { recursive: true });
  }
});

const setpriv = IS_ROOT && works("setpriv", ["--version"]);

Deno.test({
  name:
    `as a non-root user, PATH is searched as execvp does: a folder that cannot be searched is EACCES (126 if nothing else runs, passed over if something does), a plain file is passed over, a link loop stops the search${
      cc && setpriv ? "" : " (ignored: needs cc, root and setpriv)"
    }`,
  ignore: !cc || !setpriv,
  fn: async () => {
    await image();
    await Deno.chmod(made!, 0o755); // the image's folder, for user 65534
    const dir = await Deno.makeTempDir();
    try {
      await Deno.chmod(dir, 0o755);
      for (const folder of ["locked", "open"]) {
        await Deno.mkdir(`${dir}/${folder}`);
        await Deno.writeTextFile(
          `${dir}/${folder}/tool`,
          "#!/bin/sh\necho ran\n",
        );
        await Deno.chmod(`${dir}/${folder}/tool`, 0o755);
      }
      await Deno.chmod(`${dir}/locked`, 0o000);
      const asNobody = (path: string) =>
        textOutput("setpriv", [
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          "env",
          `PATH=${path}`,
          "HOME=/",
          "DENO_DIR=/nonexistent",
          `${made}/rootfs/wrapper`,
          "tool",
        ], { stdin: "null" });
      const denied = await asNobody(`${dir}/locked:/usr/bin:/bin`);
      equal(denied.code, 126, denied.stderr);
      match(denied.stderr, /permission denied/);
      const passed = await asNobody(`${dir}/locked:${dir}/open`);
      equal(passed.code, 0, passed.stderr);
      equal(passed.stdout, "ran\n");
      // A file that is no folder, as execvp: not found (127), not denied.
      await Deno.writeTextFile(`${dir}/plain`, "");
      const file = await asNobody(`${dir}/plain:/usr/bin:/bin`);
      equal(file.code, 127, file.stderr);
      // A folder under one that cannot be searched: denied too.
      await Deno.mkdir(`${dir}/closed/sub`, { recursive: true });
      await Deno.chmod(`${dir}/closed`, 0o700);
      const below = await asNobody(`${dir}/closed/sub:/usr/bin:/bin`);
      equal(below.code, 126, below.stderr);
      // A link loop stops the search there, as execvp does: 126, not the next.
      await Deno.mkdir(`${dir}/loop`);
      await Deno.symlink("tool", `${dir}/loop/tool`);
      const loop = await asNobody(`${dir}/loop:${dir}/open`);
      equal(loop.code, 126, loop.stderr);
      match(loop.stderr, /too many levels of symbolic links/);
      equal(loop.stdout, "");
    } finally {
      await Deno.chmod(`${dir}/locked`, 0o755);
      await Deno.chmod(`${dir}/closed`, 0o755).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("laterImports() hides the bundle's own dynamic imports from Deno's module graph, nothing else", () => {
  const chunks = ["cli-AB12.js", "echo-X.js"];
  equal(
    laterImports(
      'import("./cli-AB12.js");import("./other.js");x="import(\\"./echo-X.js\\")";import(a);import("./echo-X.js")',
      chunks,
    ),
    'import(String("./cli-AB12.js"));import("./other.js");x="import(\\"./echo-X.js\\")";import(a);import(String("./echo-X.js"))',
  );
});

Deno.test({
  name:
    `the image's app is main.ts bundled: only its own modules and the built-ins beside them, no package, URL or node: import, LogTape's licence beside it${why}`,
  ignore: !cc,
  fn: async () => {
    const app = `${await image()}/wrapper-runtime/app`;
    const names = [...Deno.readDirSync(app)].map((e) => e.name).sort();
    deepStrictEqual(names, [BUNDLE_DIR, ...APP_FILES].sort());
    const js = `${app}/${BUNDLE_DIR}`;
    const files = [...Deno.readDirSync(js)].map((e) => e.name)
      .filter((name) => name.endsWith(".js")).sort();
    // FILES, which the launcher checks, lists them all.
    deepStrictEqual(
      (await Deno.readTextFile(`${js}/${BUNDLE_FILES}`)).trim().split("\n")
        .filter((name) => name.endsWith(".js")).sort(),
      files,
    );
    // What loads before main.js runs, as Deno sees it: local modules only.
    const info = JSON.parse(
      (await run(Deno.execPath(), [
        "info",
        "--json",
        "--no-config",
        "--no-lock",
        `${app}/${BUNDLE_MAIN}`,
      ])).stdout,
    );
    const modules: string[] = info.modules.map(
      (m: { specifier: string; error?: string }) => {
        equal(m.error, undefined, m.specifier);
        return m.specifier;
      },
    );
    ok(modules.length >= 2 && modules.length < files.length, `${modules}`);
    for (const specifier of modules) {
      ok(specifier.startsWith(`file://${js}/`), specifier);
    }
    // What loads later (laterImports): each of its own chunks, all there.
    let later = 0;
    const texts = files.map((name) => Deno.readTextFileSync(`${js}/${name}`));
    for (const text of texts) {
      for (
        const [, name] of text.matchAll(/import\(String\("\.\/([^"]+)"\)\)/g)
      ) {
        ok(files.includes(name!), name);
        later++;
      }
    }
    ok(later > 10, `${later} later imports`);
    // The built-ins' text, for pins and for running one by its path.
    for (const file of Object.values(BUILTIN_PLUGINS)) {
      ok((await Deno.stat(`${app}/plugins/${file}`)).isFile, file);
    }
    ok(texts.some((text) => text.includes("logtape.rootLogger")), "LogTape");
    match(await Deno.readTextFile(`${js}/LICENSE.logtape`), /MIT License/);
    ok(!(await Deno.stat(`${app}/node_modules`).catch(() => false)));
  },
});

Deno.test({
  name:
    `the launcher is static (any glibc image runs it) and starts the wrapper with HOME, DENO_DIR or XDG_CACHE_HOME empty or unset${why}`,
  ignore: !cc,
  fn: async () => {
    const root = await image();
    const ldd = await run("ldd", [`${root}/wrapper`]);
    match(ldd.stdout + ldd.stderr, /not a dynamic executable/);
    for (
      const env of [[], ["HOME="], ["DENO_DIR="], ["XDG_CACHE_HOME=", "HOME=/"]]
    ) {
      const result = await run("env", [
        "-i",
        ...env,
        `${root}/wrapper`,
        "--version",
      ]);
      equal(result.code, 0, `${env}: ${result.stderr}`);
      match(result.stdout, /^wrapper \d/, env.join());
    }
  },
});

Deno.test({
  name:
    `three --install at once into one folder all succeed, and leave one whole wrapper${why}`,
  ignore: !cc,
  fn: async () => {
    const root = await image();
    const folder = await Deno.makeTempDir();
    try {
      const results = await Promise.all(
        [1, 2, 3].map(() => run(`${root}/wrapper`, ["--install", folder])),
      );
      for (const result of results) equal(result.code, 0, result.stderr);
      const names = [...Deno.readDirSync(folder)].map((e) => e.name).sort();
      equal(names.join(), "wrapper,wrapper-runtime");
      const job = await run(`${folder}/wrapper`, ["--", "true"]);
      equal(job.code, 0, job.stderr);
    } finally {
      await Deno.remove(folder, { recursive: true });
    }
  },
});

Deno.test({
  name:
    `--install follows a runtime that is a link, and refuses a folder inside its own runtime (2)${why}`,
  ignore: !cc,
  fn: async () => {
    const root = await image();
    const linked = await Deno.makeTempDir();
    const folder = await Deno.makeTempDir();
    try {
      await Deno.copyFile(`${root}/wrapper`, `${linked}/wrapper`);
      await Deno.chmod(`${linked}/wrapper`, 0o755);
      await Deno.symlink(
        `${root}/wrapper-runtime`,
        `${linked}/wrapper-runtime`,
      );
      const installed = await run(`${linked}/wrapper`, ["--install", folder]);
      equal(installed.code, 0, installed.stderr);
      ok((await Deno.lstat(`${folder}/wrapper-runtime`)).isDirectory); // a copy, not the link
      const inside = await run(`${root}/wrapper`, [
        "--install",
        `${root}/wrapper-runtime/app`,
      ]);
      equal(inside.code, 2, inside.stderr);
      match(
        inside.stderr,
        /Cannot install into .*: it is inside .*wrapper-runtime/,
      );
    } finally {
      await Deno.remove(linked, { recursive: true });
      await Deno.remove(folder, { recursive: true });
    }
  },
});

Deno.test({
  name:
    `--install into a folder that does not exist is a usage error (2) in one line${why}`,
  ignore: !cc,
  fn: async () => {
    const root = await image();
    const result = await run(`${root}/wrapper`, [
      "--install",
      "/nonexistent/x",
    ]);
    equal(result.code, 2);
    equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    match(
      result.stderr,
      /Cannot install into \/nonexistent\/x: no such folder \(mount an emptyDir there\)/,
    );
  },
});

Deno.test({
  name: `--install into a read-only folder fails with 125 in one line${why}`,
  ignore: !cc || !IS_ROOT,
  fn: async () => {
    const root = await image();
    const folder = await Deno.makeTempDir();
    try {
      // Root writes anywhere: a read-only bind mount in a mount namespace.
      const result = await run("unshare", [
        "--mount",
        "sh",
        "-c",
        `mount --bind -o ro "$1" "$1" && exec "$2" --install "$1"`,
        "sh",
        folder,
        `${root}/wrapper`,
      ]);
      equal(result.code, 125, result.stderr);
      match(
        result.stderr,
        /^wrapper: cannot install into .*: .*Read-only file system/m,
      );
      equal([...Deno.readDirSync(folder)].length, 0);
    } finally {
      await Deno.remove(folder, { recursive: true });
    }
  },
});

Deno.test("--install from a source checkout (deno run main.ts) is a usage error: nothing to copy beside it", async () => {
  const folder = await Deno.makeTempDir();
  try {
    const result = await run(Deno.execPath(), [
      ...WRAPPER_ARGS.map((arg) => arg === "main.ts" ? `${ROOT}main.ts` : arg),
      "--install",
      folder,
    ]);
    equal(result.code, 2, result.stderr);
    match(
      result.stderr,
      /is not an installed wrapper \(<prefix>\/wrapper-runtime\/app\)/,
    );
    ok([...Deno.readDirSync(folder)].length === 0);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
});
