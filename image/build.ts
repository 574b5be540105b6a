// deno-lint-ignore-file no-console -- a build script: its messages are for the person running it
/**
 * `deno task image [--compiled] [--tag wrapper:0.1.0]`: prepare
 * dist/image/rootfs (rootfs.ts), then build the image from `Containerfile`
 * with podman (or docker). `--compiled` ships `dist/wrapper` from
 * `deno task compile` (which needs `denort`) instead of Deno and main.ts.
 * @module
 */
import { parseArgs } from "node:util";
import denoJson from "../deno.json" with { type: "json" };
import { buildRootfs } from "./rootfs.ts";

const REPO = new URL("..", import.meta.url).pathname;
const { values } = parseArgs({
  args: Deno.args,
  options: {
    compiled: { type: "boolean", default: false },
    tag: { type: "string", default: `wrapper:${denoJson.version}` },
  },
});
const out = `${REPO}dist/image/rootfs`;
await Deno.remove(out, { recursive: true }).catch(() => {});
await Deno.mkdir(`${REPO}dist/image`, { recursive: true });
await buildRootfs(
  out,
  values.compiled ? { compiled: `${REPO}dist/wrapper` } : {},
);
const engine = ["podman", "docker"].find((name) =>
  new Deno.Command(name, {
    args: ["--version"],
    stdout: "null",
    stderr: "null",
  })
    .outputSync().success
);
if (engine === undefined) {
  console.error(`image: ${out} is ready; no podman or docker here to build it`);
  Deno.exit(1);
}
const { code } = await new Deno.Command(engine, {
  args: ["build", "-t", values.tag, "-f", `${REPO}Containerfile`, REPO],
}).spawn().status;
Deno.exit(code);
