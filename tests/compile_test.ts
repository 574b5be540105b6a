// The compiled binary (deno task compile) behaves as `deno run` does: plugins
// from a path, an https URL and a built-in name; SIGUSR1 opens no inspector.
// `deno compile` needs the denort runtime, downloaded from the internet unless
// DENORT_BIN points at one: without it these tests are ignored, and say so.
import { equal, match } from "node:assert/strict";
import denoJson from "../deno.json" with { type: "json" };
import {
  FakeSidecar,
  FIXTURES,
  istioEnv,
  ROOT,
  TestServer,
  TextWaiter,
} from "./_helpers.ts";

const DENORT_BIN = Deno.env.get("DENORT_BIN");
const ignore = DENORT_BIN === undefined || Deno.build.os !== "linux";
const why = ignore ? " (ignored: DENORT_BIN is not set)" : "";

let binary: string | undefined;
async function compiled(): Promise<string> {
  if (binary !== undefined) return binary;
  const out = `${await Deno.makeTempDir()}/wrapper`;
  const args = denoJson.tasks.compile.split(/\s+/).slice(1)
    .map((arg) => arg === "dist/wrapper" ? out : arg);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "null",
  }).output();
  equal(code, 0, new TextDecoder().decode(stderr));
  return binary = out;
}

async function run(args: string[], env: Record<string, string> = {}) {
  const output = await new Deno.Command(await compiled(), {
    args,
    cwd: await Deno.makeTempDir(), // not the repository: built-ins must be embedded
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test({
  name:
    `compiled: built-in, file and https plugins load; sidecar waited for and stopped${why}`,
  ignore,
  fn: async () => {
    await using sidecar = new FakeSidecar({
      readyPath: "/healthz/ready",
      quitPath: "/quitquitquit",
    });
    await using files = new TestServer(
      async () =>
        new Response(await Deno.readFile(`${FIXTURES}plugins/plain.js`)),
      { tls: true },
    );
    const result = await run([
      "-p",
      "istio-proxy",
      "-p",
      `${FIXTURES}plugins/legacy.ts`,
      "-p",
      `https://localhost:${files.port}/plain.js`,
      "sh",
      "-c",
      "exit 4",
    ], { ...istioEnv(sidecar.port), DENO_CERT: `${FIXTURES}tls/ca.pem` });
    equal(result.code, 4, result.stderr);
    match(result.stderr, /Sidecar stopped/);
    match(result.stderr, /Legacy plugin ran code=4/);
    match(result.stderr, /JavaScript plugin ran code=4/);
  },
});

Deno.test({
  name:
    `compiled: the sandbox holds (no file read) and usage errors exit 2${why}`,
  ignore,
  fn: async () => {
    const hostile = await run(["-p", `${FIXTURES}plugins/hostile.ts`, "true"], {
      WRAPPER_PLUGIN_HOSTILE_ACT: "read",
      WRAPPER_PLUGIN_HOSTILE_TARGET: "/etc/hostname",
    });
    equal(hostile.code, 0);
    match(hostile.stderr, /the plugin sandbox denies read access/);
    equal((await run(["--bogus"])).code, 2);
  },
});

Deno.test({
  name: `compiled: SIGUSR1 reaches the job and opens no inspector${why}`,
  ignore,
  fn: async () => {
    const child = new Deno.Command(await compiled(), {
      args: [Deno.execPath(), "run", `${FIXTURES}signals.ts`, "700"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = new TextWaiter(child.stdout);
    await stdout.until("ready");
    child.kill("SIGUSR1");
    await stdout.until("got SIGUSR1");
    const inspector = await fetch("http://127.0.0.1:9229/json/list").then(
      (r) => r.text(),
      (e: Error) => `refused: ${e.message}`,
    );
    match(inspector, /^refused/);
    child.kill("SIGTERM");
    equal((await child.status).code, 0);
    await stdout.cancel();
    await child.stderr.cancel();
  },
});

Deno.test({
  name:
    `compiled: a file plugin runs in the binary re-executed in plugin mode; memory past its cap ends that process only${why}`,
  ignore,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(
      `${dir}/buffers.ts`,
      `const keep: Uint8Array[] = [];\n` +
        `export default { name: "buffers", beforeStart() {\n` +
        `  for (;;) keep.push(new Uint8Array(16 << 20).fill(7));\n} };\n`,
    );
    const result = await run(["-p", `${dir}/buffers.ts`, "sh", "-c", "exit 3"]);
    equal(result.code, 3, result.stderr);
    match(result.stderr, /Loaded plugin plugin=buffers .*isolation=process/);
    match(
      result.stderr,
      /Hook failed plugin=buffers hook=beforeStart error="the plugin's process used \d+ MiB, over its 256 MiB cap"/,
    );
  },
});

Deno.test({
  name:
    `compiled: --install copies the binary alone into a folder, and it runs from there${why}`,
  ignore,
  fn: async () => {
    const folder = await Deno.makeTempDir();
    try {
      const installed = await run(["--install", folder]);
      equal(installed.code, 0, installed.stderr);
      equal([...Deno.readDirSync(folder)].map((e) => e.name).join(), "wrapper");
      const { code, stdout } = await new Deno.Command(`${folder}/wrapper`, {
        args: ["--version"],
      }).output();
      equal(code, 0);
      match(new TextDecoder().decode(stdout), /^wrapper \d+\.\d+\.\d+\n$/);
    } finally {
      await Deno.remove(folder, { recursive: true });
    }
  },
});
