// Built-in sidecar plugins against stand-ins that answer as the real sidecars
// (methods, statuses, bodies as in their sources), and the lifecycle policies.
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import {
  closedPort,
  FakeSidecar,
  type FakeSidecarOptions,
  istioEnv,
  wrapper,
} from "./_helpers.ts";

interface Builtin {
  name: string;
  prefix: string;
  fake: FakeSidecarOptions;
  env?: Record<string, string>;
}

const BUILTINS: Builtin[] = [
  {
    name: "istio-proxy",
    prefix: "ISTIO_PROXY",
    fake: { readyPath: "/healthz/ready", quitPath: "/quitquitquit" },
  },
  {
    name: "envoy",
    prefix: "ENVOY",
    fake: {
      readyPath: "/ready",
      ready: { status: 200, body: "LIVE\n" },
      quitPath: "/quitquitquit",
      quit: { status: 200, body: "OK\n" },
    },
  },
  {
    name: "linkerd",
    prefix: "LINKERD",
    fake: {
      readyPath: "/ready",
      ready: { status: 200, body: "ready\n" },
      quitPath: "/shutdown",
      quit: { status: 200, body: "shutdown\n" },
    },
  },
  {
    name: "cloud-sql-proxy",
    prefix: "CLOUD_SQL_PROXY",
    fake: {
      readyPath: "/readiness",
      ready: { status: 200, body: "ok" },
      quitPath: "/quitquitquit",
      quitMethods: ["POST", "GET"],
      quit: { status: 200, body: "" },
    },
  },
  {
    name: "dapr",
    prefix: "DAPR",
    fake: {
      readyPath: "/v1.0/healthz",
      ready: { status: 204, body: "" },
      quitPath: "/v1.0/shutdown",
      quit: { status: 204, body: "" },
      token: ["dapr-api-token", "s3cret"],
    },
    env: { WRAPPER_PLUGIN_DAPR_API_TOKEN: "s3cret" },
  },
  {
    name: "consul-dataplane",
    prefix: "CONSUL_DATAPLANE",
    fake: {
      quitPath: "/graceful_shutdown",
      quitMethods: ["GET", "POST", "PUT"],
      quit: { status: 200, body: "" },
    },
  },
];

function envFor(builtin: Builtin, port: number): Record<string, string> {
  const base = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    [`WRAPPER_PLUGIN_${builtin.prefix}_QUIT_URL`]:
      `${base}${builtin.fake.quitPath}`,
    ...builtin.env,
  };
  if (builtin.fake.readyPath !== undefined) {
    env[`WRAPPER_PLUGIN_${builtin.prefix}_READY_URL`] =
      `${base}${builtin.fake.readyPath}`;
  }
  return env;
}

const paths = (sidecar: FakeSidecar) =>
  sidecar.requests.map((r) => `${r.method} ${r.path}`);

for (const builtin of BUILTINS) {
  Deno.test(`${builtin.name}: waits until ready, runs the job, quits, sees the sidecar stop`, async () => {
    await using sidecar = new FakeSidecar({ ...builtin.fake, notReadyFor: 2 });
    const result = await wrapper(["-p", builtin.name, "sh", "-c", "exit 5"], {
      env: envFor(builtin, sidecar.port),
    });
    equal(result.code, 5, result.stderr);
    const { readyPath, quitPath } = builtin.fake;
    const expected = readyPath === undefined ? [] : [
      `GET ${readyPath}`,
      `GET ${readyPath}`,
      `GET ${readyPath}`,
    ];
    deepStrictEqual(paths(sidecar), [...expected, `POST ${quitPath}`]);
    const source = `\\[info ${builtin.name}\\]`;
    if (readyPath !== undefined) {
      match(
        result.stderr,
        new RegExp(`${source} Sidecar ready url=\\S+ afterMs=\\d+`),
      );
    }
    match(
      result.stderr,
      new RegExp(`${source} Asked the sidecar to quit url=\\S+ status=20[04]`),
    );
    match(
      result.stderr,
      new RegExp(`${source} Sidecar stopped url=\\S+ afterMs=\\d+`),
    );
    ok(!/warn|error/.test(result.stderr), result.stderr);
  });
}

const istio = (port: number, extra: Record<string, string> = {}) => ({
  env: { ...istioEnv(port), ...extra },
});

Deno.test("never ready, WRAPPER_READY_POLICY=fail: not started (125), sidecar still told to quit", async () => {
  await using sidecar = new FakeSidecar({
    readyPath: "/healthz/ready",
    quitPath: "/quitquitquit",
    notReadyFor: Infinity,
  });
  const marker = await Deno.makeTempFile();
  await Deno.remove(marker);
  const result = await wrapper(
    ["-p", "istio-proxy", "touch", marker],
    istio(sidecar.port, {
      WRAPPER_READY_TIMEOUT: "400ms",
      WRAPPER_READY_POLICY: "fail",
    }),
  );
  equal(result.code, 125);
  match(
    result.stderr,
    /Hook failed plugin=istio-proxy hook=beforeStart error="Error: Sidecar at \S+ not ready within 400 ms \(last answer: HTTP 503\)"/,
  );
  match(result.stderr, /Not starting the command/);
  equal(await Deno.stat(marker).then(() => "ran", () => "not run"), "not run");
  ok(paths(sidecar).includes("POST /quitquitquit"));
});

Deno.test("never ready, WRAPPER_READY_POLICY=start (default): warns and runs the job", async () => {
  await using sidecar = new FakeSidecar({
    readyPath: "/healthz/ready",
    quitPath: "/quitquitquit",
    notReadyFor: Infinity,
  });
  const result = await wrapper(
    ["-p", "istio-proxy", "sh", "-c", "exit 4"],
    istio(sidecar.port, { WRAPPER_READY_TIMEOUT: "400ms" }),
  );
  equal(result.code, 4);
  match(result.stderr, /not ready within 400 ms/);
  match(result.stderr, /\[warn wrapper\] Starting the command anyway/);
});

Deno.test("an absent sidecar is detected after WRAPPER_READY_ABSENT_AFTER and follows the policy", async () => {
  const port = closedPort();
  const start = await wrapper(
    ["-p", "istio-proxy", "sh", "-c", "exit 6"],
    istio(port, { WRAPPER_READY_ABSENT_AFTER: "300ms" }),
  );
  equal(start.code, 6);
  match(
    start.stderr,
    /No sidecar at http:\/\/127\.0\.0\.1:\d+\/healthz\/ready: connection refused for 300 ms/,
  );
  match(
    start.stderr,
    /\[info istio-proxy\] No sidecar listening: nothing to stop/,
  );
  const fail = await wrapper(
    ["-p", "istio-proxy", "true"],
    istio(port, {
      WRAPPER_READY_ABSENT_AFTER: "300ms",
      WRAPPER_READY_POLICY: "fail",
      WRAPPER_READY_TIMEOUT: "1s", // under fail, absent means "not yet"
    }),
  );
  equal(fail.code, 125, fail.stderr);
  match(fail.stderr, /not ready within 1000 ms/);
});

for (
  const [name, spec, fake, env, pattern] of [
    [
      "linkerd 404 (endpoint disabled)",
      "linkerd",
      {
        readyPath: "/ready",
        quitPath: "/shutdown",
        quit: { status: 404, body: "shutdown endpoint is not enabled\n" },
      },
      "LINKERD",
      /HTTP 404 \\"shutdown endpoint is not enabled\\": the proxy's shutdown endpoint is disabled: annotate the pod with config\.linkerd\.io\/proxy-admin-shutdown: enabled/,
    ],
    [
      "istio 403 (not from loopback)",
      "istio-proxy",
      {
        readyPath: "/healthz/ready",
        quitPath: "/quitquitquit",
        quit: { status: 403, body: "Only requests from localhost are allowed" },
      },
      "ISTIO_PROXY",
      /HTTP 403 .*pilot-agent only accepts quit requests from loopback/,
    ],
    [
      "cloud-sql-proxy 404 (no --quitquitquit)",
      "cloud-sql-proxy",
      {
        readyPath: "/readiness",
        quitPath: "/quitquitquit",
        quit: { status: 404, body: "404 page not found" },
      },
      "CLOUD_SQL_PROXY",
      /HTTP 404 .*start the proxy with --quitquitquit/,
    ],
  ] as const
) {
  Deno.test(`a refused quit is explained: ${name}; exit code unchanged`, async () => {
    await using sidecar = new FakeSidecar(fake);
    const base = `http://127.0.0.1:${sidecar.port}`;
    const result = await wrapper(["-p", spec, "sh", "-c", "exit 8"], {
      env: {
        [`WRAPPER_PLUGIN_${env}_READY_URL`]: `${base}${fake.readyPath}`,
        [`WRAPPER_PLUGIN_${env}_QUIT_URL`]: `${base}${fake.quitPath}`,
      },
    });
    equal(result.code, 8);
    match(
      result.stderr,
      /\[warn wrapper\] Hook failed plugin=\S+ hook=afterExit error="Error: Sidecar refused to quit: /,
    );
    match(result.stderr, pattern);
  });
}

Deno.test("a quit with the wrong method gets 405, reported (http plugin, GET to a POST-only endpoint)", async () => {
  await using sidecar = new FakeSidecar({ quitPath: "/quitquitquit" });
  const result = await wrapper(["-p", "http", "true"], {
    env: {
      WRAPPER_PLUGIN_HTTP_QUIT: JSON.stringify([
        { url: `http://127.0.0.1:${sidecar.port}/quitquitquit`, method: "GET" },
      ]),
    },
  });
  equal(result.code, 0);
  match(result.stderr, /Sidecar refused to quit: HTTP 405/);
});

Deno.test("a sidecar that accepts the quit but keeps running is reported", async () => {
  await using sidecar = new FakeSidecar({
    readyPath: "/healthz/ready",
    quitPath: "/quitquitquit",
    keepRunning: true,
  });
  const result = await wrapper(
    ["-p", "istio-proxy", "true"],
    istio(sidecar.port, { WRAPPER_QUIT_VERIFY_TIMEOUT: "300ms" }),
  );
  equal(result.code, 0);
  match(result.stderr, /Asked the sidecar to quit/);
  match(
    result.stderr,
    /Hook failed plugin=istio-proxy hook=afterExit error="Error: Sidecar still running 300 ms after accepting the quit \(port \d+ open\)"/,
  );
});

Deno.test("two sidecars at once: both waited for, both stopped", async () => {
  await using mesh = new FakeSidecar({
    readyPath: "/healthz/ready",
    quitPath: "/quitquitquit",
  });
  await using sql = new FakeSidecar(BUILTINS[3]!.fake);
  const result = await wrapper(["-p", "istio-proxy,cloud-sql-proxy", "true"], {
    env: { ...istioEnv(mesh.port), ...envFor(BUILTINS[3]!, sql.port) },
  });
  equal(result.code, 0, result.stderr);
  equal(result.stderr.match(/Sidecar stopped/g)?.length, 2, result.stderr);
  ok(paths(mesh).includes("POST /quitquitquit"));
  ok(paths(sql).includes("POST /quitquitquit"));
});

Deno.test("WRAPPER_QUIT_ON_FAILURE=false skips the quit only when the job failed", async () => {
  for (const [code, quits] of [[1, 0], [0, 1]] as const) {
    await using sidecar = new FakeSidecar({
      readyPath: "/healthz/ready",
      quitPath: "/quitquitquit",
    });
    const result = await wrapper(
      ["-p", "istio-proxy", "sh", "-c", `exit ${code}`],
      istio(sidecar.port, { WRAPPER_QUIT_ON_FAILURE: "false" }),
    );
    equal(result.code, code);
    equal(paths(sidecar).filter((p) => p.startsWith("POST")).length, quits);
  }
});

Deno.test("WRAPPER_HOOKS=off: no plugin is loaded, no sidecar is contacted", async () => {
  await using sidecar = new FakeSidecar({
    readyPath: "/healthz/ready",
    quitPath: "/quitquitquit",
  });
  const result = await wrapper(
    ["-p", "istio-proxy", "sh", "-c", "exit 3"],
    istio(sidecar.port, { WRAPPER_HOOKS: "off" }),
  );
  equal(result.code, 3);
  equal(result.stderr, "");
  equal(sidecar.requests.length, 0);
});

Deno.test("WRAPPER_NATIVE_SIDECARS=true: no readiness wait and no quit, one info line", async () => {
  await using sidecar = new FakeSidecar({
    readyPath: "/healthz/ready",
    quitPath: "/quitquitquit",
  });
  const result = await wrapper(
    ["-p", "istio-proxy", "true"],
    istio(sidecar.port, { WRAPPER_NATIVE_SIDECARS: "true" }),
  );
  equal(result.code, 0);
  equal(sidecar.requests.length, 0);
  match(
    result.stderr,
    /^\[info istio-proxy\] Native sidecars: the kubelet stops them, not asking url=\S+\n$/,
  );
});

Deno.test("http plugin: several endpoints with methods, headers and expected statuses", async () => {
  await using a = new FakeSidecar({
    readyPath: "/up",
    ready: { status: 204, body: "" },
    quitPath: "/stop",
    quitMethods: ["PUT"],
    quit: { status: 202, body: "" },
    token: ["x-token", "t"],
  });
  await using b = new FakeSidecar({ readyPath: "/health", quitPath: "/quit" });
  const endpointA = (path: string, method: string, expect: number) => ({
    url: `http://127.0.0.1:${a.port}${path}`,
    method,
    headers: { "x-token": "t" },
    expect: [expect],
  });
  const result = await wrapper(["-p", "http", "true"], {
    env: {
      WRAPPER_PLUGIN_HTTP_READY: JSON.stringify([endpointA("/up", "GET", 204)]),
      WRAPPER_PLUGIN_HTTP_QUIT: JSON.stringify([
        endpointA("/stop", "PUT", 202),
        { url: `http://127.0.0.1:${b.port}/quit` },
      ]),
    },
  });
  equal(result.code, 0, result.stderr);
  deepStrictEqual(paths(a), ["GET /up", "PUT /stop"]);
  deepStrictEqual(paths(b), ["POST /quit"]);
  equal(result.stderr.match(/Sidecar stopped/g)?.length, 2, result.stderr);
});

Deno.test("http plugin: a malformed endpoint list is a usage error before the job (2)", async () => {
  const result = await wrapper(["-p", "http", "echo", "JOB"], {
    env: { WRAPPER_PLUGIN_HTTP_QUIT: '[{"uri": "x"}]' },
  });
  equal(result.code, 2);
  equal(result.stdout.length, 0);
  match(
    result.stderr,
    /^wrapper: WRAPPER_PLUGIN_HTTP_QUIT "\[\{"uri": "x"\}\]" is not a JSON array/m,
  );
});
