// The image's recipe, checked offline (the pod tests build and run it):
// Containerfile copies the root filesystem image/rootfs.ts makes, the app in
// it is main.ts bundled and the built-ins, the launcher runs Deno with the flags of
// `deno task wrapper`, and the runtime's lockfile holds LogTape alone.
import { deepStrictEqual, match, ok } from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import { APP_FILES, BUNDLE_DIR, BUNDLE_FILES } from "../image/rootfs.ts";
import { ROOT, WRAPPER_ARGS } from "./_helpers.ts";

Deno.test("Containerfile: FROM scratch, the prepared root filesystem, numeric non-root user, /wrapper", async () => {
  const text = await Deno.readTextFile(`${ROOT}Containerfile`);
  const lines = text.split("\n").filter((line) => /^[A-Z]/.test(line));
  deepStrictEqual(lines, [
    "FROM scratch",
    "COPY dist/image/rootfs/ /",
    "USER 65532:65532",
    'ENTRYPOINT ["/wrapper"]',
    'CMD ["--help"]',
  ]);
});

Deno.test("every local module main.ts loads is in the image's bundle, or in a folder the image copies", async () => {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: ROOT,
  }).output();
  const info = JSON.parse(new TextDecoder().decode(stdout));
  const local = info.modules
    .map((m: { specifier: string }) => m.specifier)
    .filter((s: string) => s.startsWith(`file://${ROOT}`))
    .map((s: string) => s.slice(`file://${ROOT}`.length));
  ok(local.length > 5);
  // The bundle holds main.ts's whole graph; the built-ins, imported by a
  // URL made at run time, are copied as they are.
  for (const path of local) {
    ok(
      /^(main|mod)\.ts$|^deno\.json$|^src\/|^plugins\//.test(path),
      path,
    );
  }
  deepStrictEqual(APP_FILES, ["plugins"]);
});

Deno.test("the launcher runs Deno with the flags of deno task wrapper, and no lockfile, npm or remote module", async () => {
  const source = await Deno.readTextFile(`${ROOT}image/launcher.c`);
  const block = /FLAGS\[\] = \{([^}]*)\}/.exec(source)![1]!;
  const flags = [...block.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
  const task = WRAPPER_ARGS.slice(0, -1); // without main.ts
  deepStrictEqual(
    flags.filter((flag) =>
      flag.startsWith("--allow-") || flag === "run" || flag === "--no-prompt"
    ).sort(),
    [...task].sort(),
  );
  for (const flag of ["--no-lock", "--no-npm", "--no-remote"]) {
    ok(flags.includes(flag), flag);
  }
  ok(flags.includes("--no-config"));
  match(source, new RegExp(`"%s/wrapper-runtime/app/${BUNDLE_DIR}"`));
  match(source, /"%s\/main\.js"/);
  match(source, new RegExp(`"%s/${BUNDLE_FILES}"`));
});

Deno.test("the runtime imports and locks LogTape alone (test packages live in tests/deno.lock)", async () => {
  deepStrictEqual(Object.keys(denoJson.imports), ["@logtape/logtape"]);
  const lock = JSON.parse(await Deno.readTextFile(`${ROOT}deno.lock`));
  deepStrictEqual(Object.keys(lock.specifiers), [
    denoJson.imports["@logtape/logtape"],
  ]);
  deepStrictEqual(Object.keys(lock.npm), ["@logtape/logtape@2.4.2"]);
});
