// Plugins: loading from a file, a URL and a built-in name; the sandbox; hostile plugins.
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import {
  closedPort,
  fakePilotAgent,
  FakeSidecar,
  FIXTURES,
  istioEnv,
  ROOT,
  RunningWrapper,
  tempPlugin,
  TestServer,
  wrapper,
} from "./_helpers.ts";
import { runHook } from "../kit.ts";

const plugin = (name: string) => `tests/fixtures/plugins/${name}`;
const quits = (server: TestServer) =>
  server.requests.filter((r) => r.path === "/quitquitquit").map((r) =>
    `${r.method} ${r.path}`
  );
const EXIT_7 = ["sh", "-c", "exit 7"];

Deno.test("a built-in plugin runs by name, with the exit code", async () => {
  const result = await wrapper(["--plugin", "echo", ...EXIT_7]);
  equal(result.code, 7);
  match(
    result.stderr,
    /^\[info echo\] Command starting command="sh -c exit 7"$/m,
  );
  match(
    result.stderr,
    /^\[info echo\] Command ended code=7 signal=null durationMs=\d+$/m,
  );
});

Deno.test("plugins from WRAPPER_PLUGIN_PATH and --plugin both load, each once", async () => {
  const result = await wrapper([
    "-p",
    "echo",
    "-p",
    plugin("legacy.ts"),
    "true",
  ], {
    env: { WRAPPER_PLUGIN_PATH: "echo, tests/fixtures/plugins/plain.js" },
  });
  equal(result.code, 0);
  equal(result.stderr.match(/Command ended/g)?.length, 1);
  match(result.stderr, /^\[info legacy\] Legacy plugin ran code=0$/m);
  match(result.stderr, /^\[info plain-js\] JavaScript plugin ran code=0$/m);
});

Deno.test("hook context carries command, exit, options and started", async () => {
  await using server = new TestServer(() => new Response("ok"));
  const result = await wrapper(["-p", plugin("record.ts"), ...EXIT_7], {
    env: {
      WRAPPER_PLUGIN_RECORD_URL: `http://127.0.0.1:${server.port}/`,
      WRAPPER_PLUGIN_RECORD_EXTRA_SETTING: "x y",
    },
  });
  equal(result.code, 7, result.stderr);
  const [before, after] = server.requests.map((r) => JSON.parse(r.body));
  equal(before.hook, "beforeStart");
  deepStrictEqual(before.command, EXIT_7);
  deepStrictEqual(before.options, {
    url: `http://127.0.0.1:${server.port}/`,
    extraSetting: "x y",
  });
  equal(before.timeoutMs, 60_000); // WRAPPER_READY_TIMEOUT
  equal(after.timeoutMs, 10_000); // WRAPPER_PLUGIN_TIMEOUT
  deepStrictEqual(after.sidecar, {
    absentAfterMs: 1000,
    verifyTimeoutMs: 5000,
    native: false,
    injected: null,
    progressMs: 10_000,
  });
  equal(after.hook, "afterExit");
  deepStrictEqual(after.exit, { code: 7, signal: null, success: false });
  equal(after.started, true);
  equal(typeof after.durationMs, "number");
});

Deno.test("afterExit still runs, with 127, when the command is not found", async () => {
  const result = await wrapper(["-p", "echo", "no-such-command-here"]);
  equal(result.code, 127);
  match(result.stderr, /Command ended code=127/);
});

Deno.test("an option for a plugin that is not loaded is reported, not silently ignored", async () => {
  const result = await wrapper(["true"], {
    env: { WRAPPER_PLUGIN_ECHO_X: "1" },
  });
  equal(result.code, 0);
  match(
    result.stderr,
    /Ignoring variable: no such setting or loaded plugin name=WRAPPER_PLUGIN_ECHO_X/,
  );
});

for (
  const [name, file, pattern] of [
    ["a missing file", "missing.ts", /no such file ".*missing\.ts"/],
    [
      "a syntax error",
      "syntax_error.ts",
      /: SyntaxError: Expression expected at \S+\/syntax_error\.ts:1:\d+$/,
    ],
    ["no hook", "no_hook.ts", /exports no hook/],
    ["an invalid name", "bad_name.ts", /invalid name "Bad Name!"/],
    ["a busy loop while loading", "busy_load.ts", /did not load within 500 ms/],
    [
      "Deno.exit() while loading",
      "exit_load.ts",
      /called Deno\.exit\(\) while loading/,
    ],
    ["a directory", "", /is a directory/],
  ] as const
) {
  Deno.test(`a plugin with ${name} stops the wrapper before the job, exit 125`, async () => {
    const marker = await Deno.makeTempFile();
    await Deno.remove(marker);
    const spec = file === "" ? "tests/fixtures/plugins/" : plugin(file);
    const result = await wrapper(["-t", "500ms", "-p", spec, "touch", marker]);
    equal(result.code, 125);
    const lines = result.stderr.trimEnd().split("\n");
    equal(lines.length, 1, result.stderr);
    match(
      lines[0]!,
      new RegExp(`^\\[error wrapper\\] Cannot load plugin "${spec}": `),
    );
    match(lines[0]!, pattern);
    equal(
      await Deno.stat(marker).then(() => "ran", () => "not run"),
      "not run",
    );
  });
}

Deno.test("two plugins with the same name are refused", async () => {
  const result = await wrapper(["-p", "echo", "-p", "plugins/echo.ts", "true"]);
  equal(result.code, 125);
  match(result.stderr, /another plugin is already named "echo"/);
});

for (
  const [spec, pattern] of [
    ["nosuchplugin", /no built-in plugin of that name/],
    ["ftp://example.com/p.ts", /unsupported scheme "ftp:"/],
    ["data:text/javascript,export default {}", /unsupported scheme "data:"/],
    [
      "http://example.com/p.ts",
      /plain http is allowed only for loopback hosts/,
    ],
    ["https://", /not a valid URL/],
  ] as const
) {
  Deno.test(`a malformed spec ${JSON.stringify(spec)} is a usage error, exit 2`, async () => {
    const result = await wrapper(["-p", spec, "true"]);
    equal(result.code, 2);
    match(result.stderr, pattern);
    match(result.stderr, /^wrapper: Invalid plugin spec [^\n]+\n$/);
  });
}

/** Serves the fixture plugins over HTTPS (test CA) or plain HTTP. */
function pluginServer(tls: boolean): TestServer {
  return new TestServer(async (_request, seen) => {
    if (seen.path === "/redirect-http") {
      return Response.redirect("http://example.com/p.ts", 302);
    }
    if (seen.path === "/big.ts") {
      return new Response("// x\n".repeat(300_000));
    }
    const file = seen.path.startsWith("/builtin/")
      ? `${ROOT}plugins/${seen.path.slice("/builtin/".length)}`
      : `${FIXTURES}plugins${seen.path}`;
    try {
      return new Response(await Deno.readFile(file));
    } catch {
      return new Response("not found", { status: 404 });
    }
  }, { tls });
}

const CA = { DENO_CERT: `${FIXTURES}tls/ca.pem` };

Deno.test("a plugin loads from an https URL signed by a CA in DENO_CERT", async () => {
  await using server = pluginServer(true);
  const url = `https://localhost:${server.port}/legacy.ts`;
  const result = await wrapper(["-p", url, ...EXIT_7], { env: CA });
  equal(result.code, 7, result.stderr);
  match(result.stderr, /^\[info legacy\] Legacy plugin ran code=7$/m);
  deepStrictEqual(server.requests.map((r) => r.path), ["/legacy.ts"]);
});

Deno.test("the built-in plugin files work when loaded by https URL", async () => {
  await using server = pluginServer(true);
  await using sidecar = fakePilotAgent();
  const base = `https://localhost:${server.port}/builtin`;
  const result = await wrapper(
    ["-p", `${base}/echo.ts`, "-p", `${base}/istio_proxy.ts`, ...EXIT_7],
    {
      env: {
        ...CA,
        ...istioEnv(sidecar.port),
      },
    },
  );
  equal(result.code, 7, result.stderr);
  match(result.stderr, /\[info echo\] Command ended code=7/);
  deepStrictEqual(quits(sidecar), ["POST /quitquitquit"]);
});

Deno.test("a plugin loads from plain http on loopback", async () => {
  await using server = pluginServer(false);
  const result = await wrapper([
    "-p",
    `http://127.0.0.1:${server.port}/plain.js`,
    "true",
  ]);
  equal(result.code, 0, result.stderr);
  match(result.stderr, /JavaScript plugin ran code=0/);
});

for (
  const [name, path, env, pattern] of [
    [
      "an untrusted certificate",
      "/legacy.ts",
      {},
      /cannot fetch .*(certificate|UnknownIssuer)/i,
    ],
    [
      "HTTP 404",
      "/missing.ts",
      CA,
      /HTTP 404 from https:\/\/localhost:\d+\/missing\.ts/,
    ],
    [
      "a redirect to http",
      "/redirect-http",
      CA,
      /redirected to http:\/\/example\.com\/p\.ts: plain http/,
    ],
    ["an oversized body", "/big.ts", CA, /larger than 1048576 bytes/],
  ] as const
) {
  Deno.test(`a remote plugin with ${name} stops the wrapper, exit 125`, async () => {
    await using server = pluginServer(true);
    const spec = `https://localhost:${server.port}${path}`;
    const result = await wrapper(["-p", spec, "true"], { env });
    equal(result.code, 125);
    match(
      result.stderr,
      new RegExp(`^\\[error wrapper\\] Cannot load plugin "${spec}": `),
    );
    match(result.stderr, pattern);
    equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
  });
}

for (
  const [act, pattern] of [
    [
      "throw",
      /Hook failed plugin=hostile hook=afterExit error="Error: hostile plugin threw"/,
    ],
    ["reject", /Hook failed .*error="RangeError: hostile plugin rejected"/],
    [
      "hang",
      /Hook timed out plugin=hostile hook=afterExit error="no result within 500 ms"/,
    ],
    [
      "busy",
      /Hook timed out plugin=hostile hook=afterExit error="no result within 500 ms"/,
    ],
    ["exit", /Hook failed .*error="called Deno\.exit\(3\)"/],
    ["unhandled", /Hook failed .*hostile timer threw/],
    ["env", /the plugin sandbox denies env access/],
    ["read", /the plugin sandbox denies read access to \\"\/etc\/hostname\\"/],
    ["write", /the plugin sandbox denies write access/],
    ["run", /the plugin sandbox denies run access/],
    ["sys", /the plugin sandbox denies sys access/],
    ["import", /the plugin sandbox denies import/],
  ] as const
) {
  Deno.test(`a plugin that does "${act}" never changes the exit code`, async () => {
    const target = act === "read"
      ? "/etc/hostname"
      : act === "import"
      ? "https://esm.sh/left-pad"
      : await Deno.makeTempFile();
    const result = await wrapper([
      "-t",
      "500ms",
      "-p",
      plugin("hostile.ts"),
      ...EXIT_7,
    ], {
      env: {
        WRAPPER_PLUGIN_HOSTILE_ACT: act,
        WRAPPER_PLUGIN_HOSTILE_TARGET: target,
      },
    });
    equal(result.code, 7, result.stderr);
    match(result.stderr, pattern);
    if (act === "write") equal(await Deno.readTextFile(target), "");
  });
}

Deno.test("a plugin cannot import a local file, even one the wrapper can read", async () => {
  const result = await wrapper(["-p", plugin("hostile.ts"), ...EXIT_7], {
    env: {
      WRAPPER_PLUGIN_HOSTILE_ACT: "import",
      WRAPPER_PLUGIN_HOSTILE_TARGET: `file://${FIXTURES}plugins/plain.js`,
    },
  });
  equal(result.code, 7);
  match(result.stderr, /sandbox denies read access to \\".*plain\.js\\"/);
});

Deno.test("a plugin reaches 127.0.0.1 but not another loopback or remote host", async () => {
  await using allowed = new TestServer(() => new Response("hi"));
  await using other = new TestServer(() => new Response("hi"), {
    hostname: "127.0.0.2",
  });
  const run = (target: string) =>
    wrapper(["-p", plugin("hostile.ts"), ...EXIT_7], {
      env: {
        WRAPPER_PLUGIN_HOSTILE_ACT: "net",
        WRAPPER_PLUGIN_HOSTILE_TARGET: target,
      },
    });
  const ok1 = await run(`http://127.0.0.1:${allowed.port}/`);
  match(ok1.stderr, /\[info hostile\] net status=200/);
  const denied = await run(`http://127.0.0.2:${other.port}/`);
  match(
    denied.stderr,
    /the plugin sandbox denies net access to \\"127\.0\.0\.2:\d+\\"/,
  );
  equal(other.requests.length, 0);
  const remote = await run("http://example.com/");
  match(
    remote.stderr,
    /the plugin sandbox denies net access to \\"example\.com/,
  );
  for (const result of [ok1, denied, remote]) equal(result.code, 7);
});

Deno.test("a built-in named by name runs in-process; the same file by path runs in a process of its own", async () => {
  const result = await wrapper([
    "--log-level=debug",
    "-p",
    "echo",
    "-p",
    "plugins/envoy.ts",
    "true",
  ], { env: { WRAPPER_PLUGIN_ENVOY_READY_URL: "off" } });
  equal(result.code, 0);
  match(result.stderr, /Loaded plugin plugin=echo .*isolation=in-process/);
  match(result.stderr, /Loaded plugin plugin=envoy .*isolation=process/);
});

Deno.test("sidecar helpers reach loopback only, in a plugin process and in-process: one clear error, nothing sent", async () => {
  await using other = new TestServer(() => new Response("OK"), {
    hostname: "127.0.0.2",
  });
  const url = `http://127.0.0.2:${other.port}/quit`;
  // No declared options, so nothing refuses the URL before the helper.
  await using reach = await tempPlugin(
    "reach.ts",
    `export default { name: "reach",\n` +
      `  async afterExit(ctx) { await ctx.quit(ctx.options.url); } };\n`,
  );
  const result = await wrapper(["-p", reach.path, ...EXIT_7], {
    env: { WRAPPER_PLUGIN_REACH_URL: url },
  });
  equal(result.code, 7);
  match(
    result.stderr,
    /Hook failed plugin=reach hook=afterExit error="Error: http:\/\/127\.0\.0\.2:\d+\/quit: plugins may reach only localhost, 127\.0\.0\.1, \[::1\]"/,
  );
  const inProcess = await runHook(reach.path, "afterExit", {
    options: { url },
  });
  equal(inProcess.ok, false);
  match(inProcess.error!, /plugins may reach only localhost, 127\.0\.0\.1/);
  equal(other.requests.length, 0);
});

Deno.test({
  name:
    "SIGTERM during an in-process readiness wait: the wait stops polling, the sidecar is told to quit",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await using sidecar = new FakeSidecar({
      readyPath: "/healthz/ready",
      notReadyFor: Infinity,
      quitPath: "/quitquitquit",
      keepRunning: true, // the quit's verification then lasts 1.5 s
    });
    await using run = new RunningWrapper(["-p", "istio-proxy", "true"], {
      env: {
        ...istioEnv(sidecar.port),
        WRAPPER_QUIT_VERIFY_TIMEOUT: "1500ms",
      },
    });
    await sidecar.received(2); // polling, 10 ms apart
    run.process.kill("SIGTERM");
    equal((await run.process.status).code, 143);
    const paths = sidecar.requests.map((r) => r.path);
    const quitAt = paths.indexOf("/quitquitquit");
    ok(quitAt > 0, paths.join(" "));
    // A wait left polling would ask again within 10 ms.
    deepStrictEqual(paths.slice(quitAt), ["/quitquitquit"]);
    match(
      await run.stderr,
      /Hook failed plugin=istio-proxy hook=beforeStart error="interrupted by SIGTERM"/,
    );
  },
});

Deno.test("a failing beforeStart hook with WRAPPER_READY_POLICY=fail: 125, afterExit still runs", async () => {
  const marker = await Deno.makeTempFile();
  await Deno.remove(marker);
  await using sidecar = fakePilotAgent();
  const result = await wrapper([
    "-p",
    plugin("gate.ts"),
    "-p",
    "istio-proxy",
    "touch",
    marker,
  ], {
    env: {
      WRAPPER_PLUGIN_GATE_URL: `http://127.0.0.1:${closedPort()}/`,
      WRAPPER_READY_POLICY: "fail",
      ...istioEnv(sidecar.port),
    },
  });
  equal(result.code, 125);
  match(result.stderr, /Hook failed plugin=gate hook=beforeStart/);
  match(result.stderr, /Not starting the command: a beforeStart hook failed/);
  equal(await Deno.stat(marker).then(() => "ran", () => "not run"), "not run");
  deepStrictEqual(quits(sidecar), ["POST /quitquitquit"]);
});

Deno.test({
  name:
    "SIGTERM during a readiness wait: no more waiting, not started, 143, sidecar told to quit",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => release = resolve);
    await using gate = new TestServer(async () => {
      await released;
      return new Response("go");
    });
    await using sidecar = fakePilotAgent();
    await using run = new RunningWrapper([
      "--log-level=debug",
      "-p",
      plugin("gate.ts"),
      "-p",
      "istio-proxy",
      "echo",
      "started",
    ], {
      env: {
        WRAPPER_PLUGIN_GATE_URL: `http://127.0.0.1:${gate.port}/`,
        ...istioEnv(sidecar.port),
      },
    });
    await gate.received(1); // beforeStart is running
    run.process.kill("SIGTERM");
    // The readiness wait is still blocked on the gate: the wrapper must not
    // wait for it (a kubelet would SIGKILL it after its grace period).
    const status = await run.process.status;
    release();
    equal(status.code, 143);
    const stderr = await run.stderr;
    match(
      stderr,
      /Not starting the command: stopped by signal signal=SIGTERM code=143/,
    );
    match(
      stderr,
      /Hook failed plugin=gate hook=beforeStart error="interrupted by SIGTERM"/,
    );
    ok(!(await run.lines.next()).value?.includes("started"));
    deepStrictEqual(quits(sidecar), ["POST /quitquitquit"]);
  },
});

Deno.test("deno run of main.ts from an https URL works, built-ins fetched beside it", async () => {
  await using site = new TestServer(async (_request, seen) => {
    try {
      return new Response(await Deno.readFile(`${ROOT}${seen.path.slice(1)}`));
    } catch {
      return new Response("not found", { status: 404 });
    }
  }, { tls: true });
  await using sidecar = fakePilotAgent();
  const host = `localhost:${site.port}`;
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-run",
      "--allow-net",
      "--allow-read",
      "--allow-env",
      "--unstable-worker-options",
      `--allow-import=${host}`,
      "--no-config",
      "--no-lock",
      `https://${host}/main.ts`,
      "-p",
      "istio-proxy",
      "sh",
      "-c",
      "exit 6",
    ],
    cwd: await Deno.makeTempDir(),
    env: { ...CA, NO_COLOR: "1", ...istioEnv(sidecar.port) },
  }).output();
  const text = new TextDecoder().decode(stderr);
  equal(code, 6, text);
  match(text, /\[info istio-proxy\] Sidecar stopped/);
  ok(site.requests.some((r) => r.path === "/plugins/istio_proxy.ts"));
});
