// The invariant: every way out of the wrapper tells every sidecar it knows of
// to quit, and exits with the documented code. One test per fault: the
// stand-in sidecar must have received the quit, the exit code must be exact.
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { splitPin } from "../src/plugin_source.ts";
import {
  closedPort,
  fakePilotAgent,
  FakeSidecar,
  FIXTURES,
  istioEnv,
  istioStatus,
  podinfoDir,
  quitSent,
  ROOT,
  RunningWrapper,
  tempPlugin,
  TestServer,
  wrapper,
  WRAPPER_ARGS,
} from "./_helpers.ts";

const linux = Deno.build.os !== "linux";
const PIN = "0".repeat(64);

/** The quit arrived, and the wrapper saw the sidecar's port close. */
function assertStopped(stderr: string, sidecar: FakeSidecar): void {
  ok(quitSent(sidecar), stderr);
  match(stderr, /\[info istio-proxy\] Sidecar stopped/);
}

/** Run with istio-proxy pointed at a fresh stand-in; returns both. */
async function withIstio(
  args: string[],
  env: Record<string, string> = {},
) {
  const sidecar = fakePilotAgent();
  const result = await wrapper(args, {
    env: { ...istioEnv(sidecar.port), ...env },
  });
  await sidecar.close();
  return { result, sidecar };
}

// --- A plugin that cannot be loaded ----------------------------------------

for (
  const [what, spec] of [
    ["a missing file", "./missing.ts"],
    ["a syntax error", `${FIXTURES}plugins/syntax_error.ts`],
    ["a pin mismatch", `${FIXTURES}plugins/legacy.ts#sha256=${PIN}`],
  ]
) {
  Deno.test(`${what} beside istio-proxy: 125, and the sidecar is told to quit`, async () => {
    const { result, sidecar } = await withIstio([
      "-p",
      `istio-proxy,${spec}`,
      "true",
    ]);
    equal(result.code, 125, result.stderr);
    match(result.stderr, /\[error wrapper\] Cannot load plugin/);
    assertStopped(result.stderr, sidecar);
  });
}

Deno.test({
  name:
    "a FIFO, a device, a directory or a 2 GB sparse file as a plugin: 125 at once with the reason, sidecar told to quit",
  ignore: linux,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    await new Deno.Command("mkfifo", { args: [`${dir}/fifo.ts`] }).output();
    await using sparse = await Deno.open(`${dir}/sparse.ts`, {
      create: true,
      write: true,
    });
    await sparse.truncate(2 * 1024 ** 3);
    await Deno.mkdir(`${dir}/folder.ts`);
    for (
      const [spec, reason] of [
        [`${dir}/fifo.ts`, "is not a regular file"],
        ["/dev/zero", "is not a regular file"],
        [`${dir}/folder.ts`, "is a directory"],
        [`${dir}/sparse.ts`, "is larger than 1048576 bytes"],
      ]
    ) {
      const { result, sidecar } = await withIstio([
        "-p",
        `istio-proxy,${spec}`,
        "true",
      ]);
      equal(result.code, 125, result.stderr);
      ok(result.stderr.includes(`"${spec}" ${reason}`), result.stderr);
      assertStopped(result.stderr, sidecar);
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("a redirect to an invalid URL: 125 with the reason, no internal error; sidecar told to quit", async () => {
  await using server = new TestServer(() =>
    new Response("", { status: 302, headers: { location: "http://[" } })
  );
  const { result, sidecar } = await withIstio([
    "-p",
    `istio-proxy,http://127.0.0.1:${server.port}/p.ts`,
    "true",
  ]);
  equal(result.code, 125, result.stderr);
  match(result.stderr, /redirected to an invalid URL "http:\/\/\["/);
  assertStopped(result.stderr, sidecar);
});

Deno.test('a plugin that tries to forge a "loaded" message (a process has no postMessage): 125, and a sandboxed quit plugin beside it still quits', async () => {
  await using forged = await tempPlugin(
    "forge.ts",
    `postMessage({ kind: "loaded", name: "forge" });\n` +
      `await new Promise(() => {});\n`,
  );
  const { result, sidecar } = await withIstio([
    "-p",
    `${forged.path},${ROOT}plugins/istio_proxy.ts`,
    "true",
  ]);
  equal(result.code, 125, result.stderr);
  match(result.stderr, /postMessage is not defined/);
  assertStopped(result.stderr, sidecar);
});

Deno.test("a missing file beside a sandboxed quit plugin (same batch): 125, and the sidecar is told to quit", async () => {
  const { result, sidecar } = await withIstio([
    "-p",
    `./missing.ts,${ROOT}plugins/istio_proxy.ts`,
    "true",
  ]);
  equal(result.code, 125, result.stderr);
  assertStopped(result.stderr, sidecar);
});

Deno.test("a remote plugin answering 404: 125, and the sidecar is told to quit", async () => {
  await using server = new TestServer(() => new Response("", { status: 404 }));
  const { result, sidecar } = await withIstio([
    "-p",
    `istio-proxy,http://127.0.0.1:${server.port}/p.ts`,
    "true",
  ]);
  equal(result.code, 125, result.stderr);
  match(result.stderr, /HTTP 404/);
  assertStopped(result.stderr, sidecar);
});

Deno.test("a remote plugin that stays unreachable: 125 by WRAPPER_FETCH_TIMEOUT, no internal error, sidecar told to quit", async () => {
  const { result, sidecar } = await withIstio(
    ["-p", `istio-proxy,http://127.0.0.1:${closedPort()}/p.ts`, "true"],
    { WRAPPER_FETCH_TIMEOUT: "700ms" },
  );
  equal(result.code, 125, result.stderr);
  match(result.stderr, /Cannot load plugin "http:\/\/127\.0\.0\.1:\d+\/p\.ts"/);
  ok(!result.stderr.includes("internal error"), result.stderr);
  assertStopped(result.stderr, sidecar);
});

// --- A mistake in the settings ---------------------------------------------

for (
  const [what, args, env] of [
    ["a bad duration", ["-p", "istio-proxy"], { WRAPPER_READY_TIMEOUT: "abc" }],
    ["a bad switch", ["-p", "istio-proxy"], {
      WRAPPER_NATIVE_SIDECARS: "maybe",
    }],
    ["an unknown option", ["--plugins=x", "-p", "istio-proxy"], {}],
    ["a mistyped built-in in a list", [], {
      WRAPPER_PLUGIN_PATH: "istio-proxy,istio-prxy",
    }],
    ["an empty entry in a list", [], { WRAPPER_PLUGIN_PATH: "istio-proxy,," }],
    ["an unsupported scheme in a list", [], {
      WRAPPER_PLUGIN_PATH: "ftp://x/p.ts,istio-proxy",
    }],
    ["#sha256:… (a colon)", ["-p", `istio-proxy,./p.ts#sha256:${PIN}`], {}],
    ["#SHA256=… (upper case)", ["-p", `istio-proxy,./p.ts#SHA256=${PIN}`], {}],
    ["#sha512=…", ["-p", `istio-proxy,./p.ts#sha512=${PIN}`], {}],
    ["a URL fragment that is not a pin", [
      "-p",
      "istio-proxy,https://example.com/p.ts#v2",
    ], {}],
  ] as const
) {
  Deno.test(`${what}: exit 2, one usage line, and the sidecar is told to quit`, async () => {
    const { result, sidecar } = await withIstio([...args, "true"], env);
    equal(result.code, 2, result.stderr);
    match(result.stderr, /^wrapper: [^\n]+ \(see "wrapper --help"\)\n/);
    assertStopped(result.stderr, sidecar);
  });
}

Deno.test("no command at all: exit 2, and the sidecar is still told to quit", async () => {
  const { result, sidecar } = await withIstio(["-p", "istio-proxy"]);
  equal(result.code, 2);
  match(result.stderr, /No command given/);
  assertStopped(result.stderr, sidecar);
});

Deno.test("--help and --version with a mistake tell no sidecar anything (no job)", async () => {
  const { result, sidecar } = await withIstio(["--help", "--bogus"]);
  equal(result.code, 2);
  equal(sidecar.requests.length, 0);
});

Deno.test("WRAPPER_HOOKS=off with a mistake: exit 2, and quits are off", async () => {
  const { result, sidecar } = await withIstio(["-p", "istio-proxy", "true"], {
    WRAPPER_HOOKS: "off",
    WRAPPER_READY_TIMEOUT: "abc",
  });
  equal(result.code, 2);
  equal(sidecar.requests.length, 0);
});

Deno.test("splitPin(): only a well-formed trailing #sha256=<64 hex> is a pin; a # in a file name is kept", () => {
  deepStrictEqual(splitPin(`./p.ts#sha256=${"A".repeat(64)}`), {
    base: "./p.ts",
    sha256: "a".repeat(64),
  });
  deepStrictEqual(splitPin("./my#plugin.ts"), { base: "./my#plugin.ts" });
  deepStrictEqual(splitPin(`./a#b.ts#sha256=${PIN}`), {
    base: "./a#b.ts",
    sha256: PIN,
  });
  for (
    const bad of [
      `./p.ts#sha256:${PIN}`,
      `./p.ts#SHA256=${PIN}`,
      `./p.ts#sha512=${PIN}`,
      "./p.ts#sha256=abc",
      `https://h/p.ts#x`,
      `https://h/p.ts#sha256=${PIN}#`,
    ]
  ) {
    ok(splitPin(bad).problem !== undefined, bad);
  }
});

Deno.test("a file name with a # is read as that file, not cut at the #", async () => {
  await using plugin = await tempPlugin(
    "my#plugin.ts",
    await Deno.readTextFile(`${FIXTURES}plugins/legacy.ts`),
  );
  const result = await wrapper(["-p", plugin.path, "true"]);
  equal(result.code, 0, result.stderr);
});

// --- A stop signal in every phase ------------------------------------------

/** A server that holds every request until released (a fetch under way). */
function heldServer(): TestServer & { release(): void } {
  const hold = Promise.withResolvers<void>();
  const server = new TestServer(async () => {
    await hold.promise;
    return new Response("");
  });
  return Object.assign(server, { release: () => hold.resolve() });
}

/** Start with `specs`, send SIGTERM once `phase` resolves: 143, sidecar stopped. */
async function sigtermDuring(
  specs: string,
  phase: (run: RunningWrapper) => Promise<unknown>,
): Promise<void> {
  await using sidecar = fakePilotAgent();
  await using run = new RunningWrapper(
    ["--log-level=debug", "-p", specs, "true"],
    { env: istioEnv(sidecar.port) },
  );
  await phase(run);
  run.process.kill("SIGTERM");
  const status = await run.process.status;
  const stderr = await run.stderr;
  equal(status.code, 143, stderr);
  assertStopped(stderr, sidecar);
}

Deno.test({
  name:
    "SIGTERM while a remote plugin is fetched: 143 at once, sidecar told to quit",
  ignore: linux,
  fn: async () => {
    await using server = heldServer();
    const url = `http://127.0.0.1:${server.port}/p.ts`;
    await sigtermDuring(`istio-proxy,${url}`, () => server.received(1));
    server.release();
  },
});

Deno.test({
  name:
    "SIGTERM while a file plugin loads (awaiting at top level): 143, sidecar told to quit",
  ignore: linux,
  fn: async () => {
    await using server = heldServer();
    await using plugin = await tempPlugin(
      "slow_load.ts",
      `await fetch("http://127.0.0.1:${server.port}/");\n` +
        `export default { name: "slow", afterExit() {} };\n`,
    );
    await sigtermDuring(`istio-proxy,${plugin.path}`, () => server.received(1));
    server.release();
  },
});

Deno.test({
  name:
    "SIGTERM while a file plugin busy-loops in its load: 143, sidecar told to quit",
  ignore: linux,
  fn: async () => {
    // Built-ins load first: once istio-proxy is loaded, the busy one loads.
    await sigtermDuring(
      `istio-proxy,${FIXTURES}plugins/busy_load.ts`,
      (run) => run.waitForStderr(/Loaded plugin plugin=istio-proxy/),
    );
  },
});

Deno.test({
  name:
    "SIGTERM while a remote plugin's fetch waits to retry (HTTP 503): 143, no internal error; a file quit plugin beside it still quits",
  ignore: linux,
  fn: async () => {
    await using server = new TestServer(() =>
      new Response("", { status: 503 })
    );
    const url = `http://127.0.0.1:${server.port}/p.ts`;
    await sigtermDuring(
      `${url},${ROOT}plugins/istio_proxy.ts`,
      () => server.received(1),
    );
  },
});

Deno.test({
  name: "two SIGTERMs during a readiness wait: 143, sidecar told to quit once",
  ignore: linux,
  fn: async () => {
    await using sidecar = new FakeSidecar({
      readyPath: "/healthz/ready",
      quitPath: "/quitquitquit",
      notReadyFor: Infinity,
    });
    await using run = new RunningWrapper(["-p", "istio-proxy", "true"], {
      env: istioEnv(sidecar.port),
    });
    await sidecar.received(1); // polling readiness
    run.process.kill("SIGTERM");
    run.process.kill("SIGTERM");
    const status = await run.process.status;
    equal(status.code, 143, await run.stderr);
    equal(sidecar.requests.filter((r) => r.method === "POST").length, 1);
  },
});

Deno.test({
  name:
    "SIGTERM twice while the quit is under way (after the job): the quit completes, the job's code stays",
  ignore: linux,
  fn: async () => {
    const started = Promise.withResolvers<RunningWrapper>();
    const quitting = Promise.withResolvers<void>();
    await using sidecar = new TestServer(async (_request, seen) => {
      if (seen.path !== "/quitquitquit") return new Response("ok");
      const run = await started.promise;
      run.process.kill("SIGTERM");
      run.process.kill("SIGTERM");
      await run.waitForStderr(/Received signal signal=SIGTERM/);
      quitting.resolve();
      return new Response("OK");
    });
    await using run = new RunningWrapper([
      "--log-level=debug",
      "-p",
      "istio-proxy",
      "sh",
      "-c",
      "exit 3",
    ], { env: istioEnv(sidecar.port) });
    started.resolve(run);
    await quitting.promise;
    const status = await run.process.status;
    const stderr = await run.stderr;
    equal(status.code, 3, stderr);
    match(stderr, /\[info istio-proxy\] Asked the sidecar to quit/);
  },
});

Deno.test({
  name:
    "a job ending in trap 'kill 0' EXIT (the wrapper's process group): the quit is never lost, 6 runs of 6",
  ignore: linux,
  fn: async () => {
    // As in the issue, and a background process that signals the group only
    // once the job has exited (while the wrapper tells the sidecar to quit).
    const scripts = [
      "trap 'kill 0' EXIT; exit 4",
      "(trap '' TERM; while kill -0 $$ 2>/dev/null; do :; done; kill 0) & exit 4",
    ];
    for (let run = 0; run < 6; run++) {
      await using sidecar = fakePilotAgent();
      // setsid: the group that `kill 0` signals is the wrapper's, not the tests'.
      const output = await new Deno.Command("setsid", {
        args: [
          "-w",
          Deno.execPath(),
          ...WRAPPER_ARGS,
          "-p",
          "istio-proxy",
          "sh",
          "-c",
          scripts[run % 2]!,
        ],
        cwd: ROOT,
        env: { ...istioEnv(sidecar.port), NO_COLOR: "1" },
        stdout: "null",
        stderr: "piped",
      }).output();
      const stderr = new TextDecoder().decode(output.stderr);
      ok(quitSent(sidecar), `run ${run}: ${stderr}`);
      match(stderr, /\[info istio-proxy\] Sidecar stopped/, `run ${run}`);
      // The job's own status: sh killed by its own SIGTERM, or exit 4.
      ok([4, 143].includes(output.code), `run ${run}: ${output.code}`);
    }
  },
});

// --- A plugin whose runtime dies between hooks ---------------------------------

for (
  const [what, action] of [
    ["throws in a timer", `setTimeout(() => { throw new Error("late"); }, 0);`],
    ["calls self.close()", `setTimeout(() => close(), 0);`],
    ["calls Deno.exit()", `setTimeout(() => Deno.exit(3), 0);`],
  ]
) {
  Deno.test(`a plugin that ${what} after its beforeStart gets a fresh runtime for afterExit: its quit is sent at once`, async () => {
    await using sidecar = fakePilotAgent();
    await using plugin = await tempPlugin(
      "dies.ts",
      `export default { name: "dies",\n` +
        `  beforeStart() { ${action} },\n` +
        `  async afterExit(ctx) { await ctx.quit(ctx.options.quitUrl!); },\n};\n`,
    );
    const result = await wrapper(["-p", plugin.path, "sh", "-c", "exit 3"], {
      env: {
        WRAPPER_PLUGIN_DIES_QUIT_URL:
          `http://127.0.0.1:${sidecar.port}/quitquitquit`,
        WRAPPER_PLUGIN_TIMEOUT: "5s",
      },
    });
    equal(result.code, 3, result.stderr);
    ok(quitSent(sidecar), result.stderr);
    match(result.stderr, /\[info dies\] Sidecar stopped/);
    ok(!result.stderr.includes("timed out"), result.stderr);
  });
}

// --- A plugin that floods its log ---------------------------------------------

for (
  const [size, why] of [
    [
      100,
      /Plugin logs too fast: dropping lines[\s\S]*flooded its log \(1000 lines dropped\)/,
    ],
    [1 << 16, /flooded the host with data \(over 1 MiB a second\)/],
  ] as const
) {
  Deno.test({
    name:
      `a plugin flooding ${size}-character log lines in beforeStart is cut off: the job runs, its code stays, the sidecar is told to quit`,
    ignore: linux,
    fn: async () => {
      await using flood = await tempPlugin(
        "flood.ts",
        `export default { name: "flood", beforeStart(ctx) {\n` +
          `  const line = "x".repeat(${size});\n` +
          `  for (;;) ctx.log.info(line);\n} };\n`,
      );
      const { result, sidecar } = await withIstio([
        "-p",
        `istio-proxy,${flood.path}`,
        "sh",
        "-c",
        "exit 5",
      ]);
      equal(result.code, 5, result.stderr.slice(-2000));
      match(result.stderr, why);
      ok(result.stderr.length < 4 * 1024 * 1024, "bounded output");
      assertStopped(result.stderr, sidecar);
    },
  });
}

Deno.test("log properties with a BigInt or a cycle are rendered, not dropped (text and JSON)", async () => {
  await using plugin = await tempPlugin(
    "odd_props.ts",
    `export default { name: "odd", afterExit(ctx) {\n` +
      `  const self: Record<string, unknown> = { n: 10n };\n` +
      `  self.self = self;\n` +
      `  ctx.log.info("odd", self);\n} };\n`,
  );
  const text = await wrapper(["-p", plugin.path, "true"]);
  match(text.stderr, /\[info odd\] odd n=10n self=\[Circular\]/);
  const json = await wrapper(["-p", plugin.path, "true"], {
    env: { WRAPPER_LOG_FORMAT: "json" },
  });
  const line = JSON.parse(
    json.stderr.split("\n").find((l) => l.includes('"odd"'))!,
  );
  deepStrictEqual(line.properties, { n: "10n", self: "[Circular]" });
});

// --- Odd values and a broken stderr --------------------------------------------

Deno.test('an empty plugin option is unset, never a silent "off": the default quit URL is tried', async () => {
  const result = await wrapper(["-p", "istio-proxy", "true"], {
    env: {
      WRAPPER_PLUGIN_ISTIO_PROXY_READY_URL: "off",
      WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL: " ",
    },
  });
  equal(result.code, 0, result.stderr);
  match(result.stderr, /url=http:\/\/localhost:15020\/quitquitquit/);
});

Deno.test("a usage error with stderr closed: still exit 2, and the sidecar is told to quit", async () => {
  await using sidecar = fakePilotAgent();
  const child = new Deno.Command(Deno.execPath(), {
    args: [...WRAPPER_ARGS, "-p", "istio-proxy", "--bogus", "true"],
    cwd: ROOT,
    env: istioEnv(sidecar.port),
    stdout: "null",
    stderr: "piped",
  }).spawn();
  await child.stderr.cancel(); // every write to stderr now fails (EPIPE)
  const status = await child.status;
  equal(status.code, 2);
  ok(quitSent(sidecar));
});

// --- The job dying by any signal ------------------------------------------

for (const n of [34, 40, 64]) {
  Deno.test({
    name: `a job killed by real-time signal ${n}: ${
      128 + n
    }, afterExit runs, sidecar told to quit`,
    ignore: linux,
    fn: async () => {
      const { result, sidecar } = await withIstio([
        "-p",
        "istio-proxy,echo",
        "sh",
        "-c",
        `kill -${n} $$`,
      ]);
      equal(result.code, 128 + n, result.stderr);
      ok(
        result.stderr.includes(
          `[info echo] Command ended code=${128 + n} signal=null`,
        ),
        result.stderr,
      );
      assertStopped(result.stderr, sidecar);
    },
  });
}

// --- An internal error -------------------------------------------------------

Deno.test("a plugin trying to post a message that would break the host (null) fails that hook only: the job and the quits go on", async () => {
  await using plugin = await tempPlugin(
    "breaker.ts",
    `export default { name: "breaker", beforeStart() { postMessage(null); } };\n`,
  );
  const { result, sidecar } = await withIstio([
    "-p",
    `istio-proxy,${plugin.path}`,
    "sh",
    "-c",
    "exit 6",
  ], { WRAPPER_READY_TIMEOUT: "300ms" });
  equal(result.code, 6, result.stderr);
  match(
    result.stderr,
    /Hook failed plugin=breaker hook=beforeStart error="ReferenceError: postMessage is not defined"/,
  );
  assertStopped(result.stderr, sidecar);
});

// --- A proxy in the environment ---------------------------------------------

for (
  const name of [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
  ]
) {
  Deno.test(`${name} in the environment: loopback never goes through it; the job's environment is untouched`, async () => {
    const proxy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    let proxied = 0;
    const accepting = (async () => {
      for await (const conn of proxy) {
        proxied++;
        conn.close();
      }
    })();
    // HTTPS_PROXY only applies to https URLs: the plugin's own fetch uses one.
    const tls = /https/i.test(name);
    await using gate = new TestServer(() => new Response("go"), { tls });
    const { result, sidecar } = await withIstio([
      "-p",
      `istio-proxy,${FIXTURES}plugins/gate.ts`,
      "sh",
      "-c",
      `printf '%s|%s|%s' "$${name}" "$NO_PROXY" "\${no_proxy-unset}"`,
    ], {
      [name]: `http://127.0.0.1:${proxy.addr.port}`,
      NO_PROXY: name.startsWith("ALL") ? "*" : "example.com",
      WRAPPER_PLUGIN_GATE_URL: `${
        tls ? "https" : "http"
      }://localhost:${gate.port}/`,
      DENO_CERT: `${FIXTURES}tls/ca.pem`,
    });
    proxy.close();
    await accepting.catch(() => {});
    equal(result.code, 0, result.stderr);
    equal(proxied, 0, "the proxy saw a connection");
    ok(gate.requests.length === 1, "the Worker plugin's own fetch arrived");
    ok(sidecar.requests.some((r) => r.path === "/healthz/ready"));
    assertStopped(result.stderr, sidecar);
    equal(
      new TextDecoder().decode(result.stdout),
      `http://127.0.0.1:${proxy.addr.port}|${
        name.startsWith("ALL") ? "*" : "example.com"
      }|unset`,
    );
  });
}

// --- A sidecar that starts late ------------------------------------------------

/**
 * Run `args` with istio-proxy at a port where the stand-in starts listening
 * only 400 ms after the wrapper (its image still pulling: the scenario
 * itself, not a synchronisation), with a 100 ms absent shortcut.
 */
async function withLateIstio(args: string[], env: Record<string, string>) {
  const port = closedPort();
  await using run = new RunningWrapper(args, {
    env: { ...istioEnv(port), WRAPPER_READY_ABSENT_AFTER: "100ms", ...env },
  });
  await new Promise((resolve) => setTimeout(resolve, 400));
  await using sidecar = new FakeSidecar({
    readyPath: "/healthz/ready",
    quitPath: "/quitquitquit",
    port,
  });
  const { code } = await run.process.status;
  const stderr = await run.stderr;
  assertStopped(stderr, sidecar);
  return { code, stderr };
}

Deno.test({
  name:
    "WRAPPER_READY_POLICY=fail, no metadata: a sidecar listening after the absent delay is waited for",
  ignore: linux,
  fn: async () => {
    const { code, stderr } = await withLateIstio(
      ["-p", "istio-proxy", "sh", "-c", "exit 5"],
      { WRAPPER_READY_POLICY: "fail" },
    );
    equal(code, 5, stderr);
  },
});

// --- The pod's metadata ---------------------------------------------------------

Deno.test({
  name:
    "metadata shows Istio, auto: a late sidecar is waited for with no absent shortcut, then told to quit",
  ignore: linux,
  fn: async () => {
    await using pod = await podinfoDir({
      "sidecar.istio.io/status": istioStatus(),
    });
    const { code, stderr } = await withLateIstio(["sh", "-c", "exit 7"], {
      WRAPPER_PLUGIN_PATH: "auto",
      WRAPPER_PODINFO_DIR: pod.path,
    });
    equal(code, 7, stderr);
    match(stderr, /\[info istio-proxy\] Sidecar ready/);
    ok(!stderr.includes("No sidecar at"), stderr);
  },
});

Deno.test({
  name:
    "metadata shows Istio, a short job ends before the sidecar listens: it is told to quit when it comes up",
  ignore: linux,
  fn: async () => {
    await using pod = await podinfoDir({
      "sidecar.istio.io/status": istioStatus(),
    });
    const port = closedPort();
    await using run = new RunningWrapper(["sh", "-c", "exit 0"], {
      env: {
        ...istioEnv(port),
        WRAPPER_PODINFO_DIR: pod.path,
        WRAPPER_READY_TIMEOUT: "200ms", // policy start: the job runs anyway
      },
    });
    await run.waitForStderr(/Sidecar not listening yet: waiting to tell it/);
    await using sidecar = new FakeSidecar({
      readyPath: "/healthz/ready",
      quitPath: "/quitquitquit",
      port,
    });
    const status = await run.process.status;
    const stderr = await run.stderr;
    equal(status.code, 0, stderr);
    assertStopped(stderr, sidecar);
  },
});

Deno.test("metadata shows a native Istio sidecar: no wait, no quit (the kubelet stops it)", async () => {
  await using pod = await podinfoDir({
    "sidecar.istio.io/status": istioStatus(true),
  });
  const { result, sidecar } = await withIstio(["true"], {
    WRAPPER_PLUGIN_PATH: "auto",
    WRAPPER_PODINFO_DIR: pod.path,
  });
  equal(result.code, 0, result.stderr);
  deepStrictEqual(sidecar.requests, []);
});

Deno.test("metadata shows no mesh: no wait at all, even under WRAPPER_READY_POLICY=fail; the quit is still tried", async () => {
  await using pod = await podinfoDir({ "team": "batch" }, { app: "job" });
  const port = closedPort();
  const result = await wrapper(["-p", "istio-proxy", "sh", "-c", "exit 9"], {
    env: {
      ...istioEnv(port),
      WRAPPER_PODINFO_DIR: pod.path,
      WRAPPER_READY_POLICY: "fail",
    },
  });
  equal(result.code, 9, result.stderr);
  match(result.stderr, /metadata shows no such sidecar: not waiting/);
  match(result.stderr, /No sidecar listening: nothing to stop/);
});

Deno.test("a usage error with metadata present: the sidecars it shows are told to quit, exit 2", async () => {
  await using pod = await podinfoDir({
    "sidecar.istio.io/status": istioStatus(),
  });
  const { result, sidecar } = await withIstio(["true"], {
    WRAPPER_PODINFO_DIR: pod.path,
    WRAPPER_PLUGIN_TIMEOUT: "10 seconds",
  });
  equal(result.code, 2, result.stderr);
  match(result.stderr, /^wrapper: Invalid duration "10 seconds"/);
  assertStopped(result.stderr, sidecar);
});

Deno.test({
  name:
    "pod metadata that is a FIFO is a usage error, never a hang; a junk line is skipped with a warning, the rest still counts",
  ignore: linux,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    await new Deno.Command("mkfifo", { args: [`${dir}/annotations`] }).output();
    const fifo = await wrapper(["true"], {
      env: { WRAPPER_PODINFO_DIR: dir },
    });
    equal(fifo.code, 2);
    match(fifo.stderr, /annotations" is not a regular file/);
    await Deno.remove(`${dir}/annotations`);
    await Deno.writeTextFile(
      `${dir}/annotations`,
      `not the kubelet's format\nsidecar.istio.io/status=${
        JSON.stringify(istioStatus())
      }`,
    );
    const { result, sidecar } = await withIstio(["sh", "-c", "exit 3"], {
      WRAPPER_PODINFO_DIR: dir,
    });
    equal(result.code, 3, result.stderr);
    match(result.stderr, /annotations": line 1 is not key="value": skipped/);
    assertStopped(result.stderr, sidecar);
    await Deno.remove(dir, { recursive: true });
  },
});

for (const status of ["null", "{not json", "[]"]) {
  Deno.test(`an Istio status annotation of ${status}: Istio is still known (a warning), the sidecar is told to quit`, async () => {
    await using pod = await podinfoDir({ "sidecar.istio.io/status": status });
    const { result, sidecar } = await withIstio(["true"], {
      WRAPPER_PODINFO_DIR: pod.path,
    });
    equal(result.code, 0, result.stderr);
    match(result.stderr, /is not the injector's JSON/);
    assertStopped(result.stderr, sidecar);
  });
}

Deno.test("WRAPPER_HOOKS=off reads no pod metadata: bad metadata cannot block the job", async () => {
  const result = await wrapper(["sh", "-c", "exit 4"], {
    env: { WRAPPER_HOOKS: "off", WRAPPER_PODINFO_DIR: "/nonexistent" },
  });
  equal(result.code, 4, result.stderr);
});

Deno.test("WRAPPER_PODINFO_DIR naming a missing folder is a usage error", async () => {
  const result = await wrapper(["true"], {
    env: { WRAPPER_PODINFO_DIR: "/nonexistent/podinfo" },
  });
  equal(result.code, 2);
  match(result.stderr, /Cannot read pod metadata: no such folder/);
});

Deno.test("auto without metadata warns before the job and runs it", async () => {
  const result = await wrapper(["true"], {
    env: { WRAPPER_PLUGIN_PATH: "auto", WRAPPER_PODINFO_DIR: "" },
  });
  equal(result.code, 0);
  match(result.stderr, /\[warn wrapper\] "auto" found no pod metadata/);
});

Deno.test("metadata shows Linkerd without its shutdown endpoint: a warning before the job", async () => {
  await using pod = await podinfoDir({
    "linkerd.io/proxy-version": "edge-24.11.1",
  });
  const result = await wrapper(["true"], {
    env: {
      WRAPPER_PODINFO_DIR: pod.path,
      WRAPPER_PLUGIN_LINKERD_READY_URL: "off",
      WRAPPER_PLUGIN_LINKERD_QUIT_URL: "off",
    },
  });
  equal(result.code, 0, result.stderr);
  match(result.stderr, /\[warn wrapper\] linkerd: .*proxy-admin-shutdown/);
});

Deno.test("the built-in's own file, run sandboxed, replaces the built-in the metadata adds (no duplicate-name failure)", async () => {
  await using pod = await podinfoDir({
    "sidecar.istio.io/status": istioStatus(),
  });
  const result = await wrapper(
    ["--log-level=debug", "-p", "plugins/istio_proxy.ts", "true"],
    {
      env: {
        WRAPPER_PODINFO_DIR: pod.path,
        WRAPPER_PLUGIN_ISTIO_PROXY_READY_URL: "off",
        WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL: "off",
      },
    },
  );
  equal(result.code, 0, result.stderr);
  match(result.stderr, /Loaded plugin plugin=istio-proxy .*isolation=process/);
  match(result.stderr, /Using the built-in named by its file/);
  equal(
    result.stderr.match(/Hook done plugin=istio-proxy hook=beforeStart/g)
      ?.length,
    1,
    result.stderr,
  );
});
