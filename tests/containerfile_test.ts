// The Containerfile cannot be built here (no container engine, no registry),
// so check what can be checked offline: it copies everything `deno task
// compile` reads, builds with that task, and ends distroless, non-root, /wrapper.
import { match, ok } from "node:assert/strict";
import { ROOT } from "./_helpers.ts";

Deno.test("Containerfile builds with deno task compile into a non-root distroless image", async () => {
  const text = await Deno.readTextFile(`${ROOT}Containerfile`);
  for (
    const path of [
      "deno.json",
      "deno.lock",
      "main.ts",
      "mod.ts",
      "src/",
      "plugins/",
    ]
  ) {
    ok(
      new RegExp(`^COPY .*\\b${path.replace(".", "\\.")}`, "m").test(text),
      path,
    );
  }
  match(
    text,
    /^FROM docker\.io\/denoland\/deno:debian-\$\{DENO_VERSION\} AS build$/m,
  );
  match(text, /^ARG DENO_VERSION=2\.9\.6$/m);
  match(text, /^RUN deno task compile/m);
  match(text, /^FROM gcr\.io\/distroless\/cc-debian12:nonroot$/m);
  match(text, /^COPY --from=build \/src\/dist\/wrapper \/wrapper$/m);
  match(text, /^USER nonroot$/m);
  match(text, /^ENTRYPOINT \["\/wrapper"\]$/m);
});

Deno.test("every local module main.ts loads is inside a directory the Containerfile copies", async () => {
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
  for (const path of local) {
    ok(/^(main\.ts|mod\.ts|deno\.json|src\/.*|plugins\/.*)$/.test(path), path);
  }
});
