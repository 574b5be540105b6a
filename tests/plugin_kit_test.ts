// What a plugin author has: the API's types printed by the wrapper (so a
// plugin type-checks offline), every TypeScript block of the README
// type-checked with them, and --check-plugin to load a plugin and see it.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { runHook, standIn } from "../kit.ts";
import {
  closedPort,
  ROOT,
  RunningWrapper,
  tempPlugin,
  TestServer,
  wrapper,
} from "./_helpers.ts";

Deno.test("--print-types prints mod.ts, and every TypeScript block of the README type-checks against it", async () => {
  const types = await wrapper(["--print-types"]);
  equal(types.code, 0, types.stderr);
  const text = new TextDecoder().decode(types.stdout);
  equal(text, await Deno.readTextFile(`${ROOT}mod.ts`));
  ok(!/^import /m.test(text), "mod.ts must stay self-contained");

  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) =>
    m[1]!
  );
  ok(blocks.length >= 2, `${blocks.length} blocks`);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/wrapper_types.ts`, text);
    const files = await Promise.all(blocks.map(async (code, i) => {
      const file = `${dir}/block${i}.ts`;
      await Deno.writeTextFile(file, code);
      return file;
    }));
    const check = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--no-config", ...files],
      cwd: dir,
      env: { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    equal(check.code, 0, new TextDecoder().decode(check.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--check-plugin loads a plugin as a run would and prints its name, hooks and options; one that cannot load gives the reason and 125; no job runs", async () => {
  const builtin = await wrapper(["--check-plugin", "istio-proxy"]);
  equal(builtin.code, 0, builtin.stderr);
  match(
    new TextDecoder().decode(builtin.stdout),
    /^istio-proxy \(istio-proxy\): beforeStart, afterExit\n {2}WRAPPER_PLUGIN_ISTIO_PROXY_READY_URL: .*\(default http:\/\/localhost:15021\/healthz\/ready\) \[loopback URL\]\n/,
  );
  await using plugin = await tempPlugin(
    "bare.ts",
    `export default { name: "bare", afterExit() {} };\n`,
  );
  const bare = await wrapper(["--check-plugin", plugin.path]);
  equal(bare.code, 0, bare.stderr);
  match(
    new TextDecoder().decode(bare.stdout),
    /^bare \(.*bare\.ts\): afterExit\n {2}options: not declared/,
  );
  const missing = await wrapper(["--check-plugin", "./missing.ts"]);
  equal(missing.code, 125);
  equal(missing.stdout.length, 0);
  match(missing.stderr, /Cannot load plugin "\.\/missing\.ts": no such file/);
  const pin = await wrapper([
    "--check-plugin",
    `${plugin.path}#sha256=${"0".repeat(64)}`,
  ]);
  equal(pin.code, 125);
  match(pin.stderr, /sha256/i);
});

Deno.test("deno task wrapper run from another folder runs the command there and reads a relative plugin path there", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/mine.ts`,
      `export default { name: "mine", afterExit(ctx) { ctx.log.info("mine ran"); } };\n`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "task",
        "-q",
        "--config",
        `${ROOT}deno.json`,
        "wrapper",
        "-p",
        "./mine.ts",
        "--",
        "sh",
        "-c",
        "pwd; exit 3",
      ],
      cwd: dir,
      // As from a shell: under `deno task test`, INIT_CWD would be inherited
      // (deno task keeps an INIT_CWD it finds), naming the tests' folder.
      env: Object.fromEntries(
        Object.entries(Deno.env.toObject()).filter(([key]) =>
          key !== "INIT_CWD"
        ),
      ),
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    equal(output.code, 3, stderr);
    equal(
      new TextDecoder().decode(output.stdout),
      `${await Deno.realPath(dir)}\n`,
    );
    match(stderr, /\[info mine\] mine ran/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the kit: runHook runs a plugin's hook with its declared defaults against a stand-in, captures its lines, and reports an undeclared option or a failure", async () => {
  await using sidecar = standIn();
  await using plugin = await tempPlugin(
    "quitter.ts",
    `export default { name: "quitter",\n` +
      `  options: { quitUrl: { description: "q", default: "http://127.0.0.1:${closedPort()}/quit", loopback: true } },\n` +
      `  async beforeStart(ctx) { await ctx.waitReady(ctx.options.quitUrl.replace("/quit", "/ready")); },\n` +
      `  async afterExit(ctx) { ctx.log.info("bye", { code: ctx.exit.code }); await ctx.quit(ctx.options.quitUrl); },\n};\n`,
  );
  const options = { quitUrl: `${sidecar.url}/quit` };
  const ready = await runHook(plugin.path, "beforeStart", { options });
  equal(ready.ok, true, ready.error);
  const quit = await runHook(plugin.path, "afterExit", {
    options,
    exit: { code: 3, signal: null, success: false },
  });
  equal(quit.ok, true, quit.error);
  equal(sidecar.quits, 1);
  deepEqual(quit.logs[0], {
    kind: "log",
    level: "info",
    message: "bye",
    properties: { code: 3 },
  });
  const typo = await runHook(plugin.path, "afterExit", {
    options: { quitUlr: "x" },
  });
  equal(typo.ok, false);
  match(typo.error!, /did you mean WRAPPER_PLUGIN_QUITTER_QUIT_URL\?/);
  const absent = await runHook(plugin.path, "afterExit", { timeoutMs: 300 });
  equal(absent.ok, true); // nothing listens at the default: nothing to stop
  match(JSON.stringify(absent.logs), /No sidecar listening/);
  await using hang = await tempPlugin(
    "hang.ts",
    `export default { name: "hang", afterExit() { return new Promise(() => {}); } };\n`,
  );
  deepEqual(await runHook(hang.path, "afterExit", { timeoutMs: 200 }), {
    ok: false,
    error: "no result within 200 ms",
    logs: [],
  });
  deepEqual(await runHook(hang.path, "beforeStart"), {
    ok: false,
    error: '"hang" has no beforeStart hook',
    logs: [],
  });
  const missing = await runHook("./no_such_plugin.ts", "afterExit");
  equal(missing.ok, false);
  match(missing.error!, /^cannot load: /);
});

Deno.test("--check-plugin stops on SIGTERM while a plugin's fetch hangs: 143, and the reason is still written", async () => {
  await using files = new TestServer((request) =>
    new Promise<Response>((resolve) =>
      request.signal.addEventListener(
        "abort",
        () => resolve(new Response("late")),
      )
    )
  );
  await using run = new RunningWrapper([
    "--check-plugin",
    `http://127.0.0.1:${files.port}/p.ts`,
  ]);
  await files.received(1);
  run.process.kill("SIGTERM");
  equal((await run.process.status).code, 143);
  match(
    await run.stderr,
    /Cannot load plugin "http:\/\/127\.0\.0\.1:\d+\/p\.ts": cannot fetch \S+: SIGTERM\n/,
  );
});
