// Pod-like end-to-end tests: the wrapper as PID 1 of a fresh PID namespace, in
// a fresh network namespace whose loopback it shares only with a stand-in
// sidecar, in a read-only root filesystem with no shell, sleep or curl — only
// /deno, its libraries, the wrapper and the job (see fixtures/e2e/pod.ts).
// Needs Linux, root (for unshare --net), bubblewrap, iproute2 and util-linux (.ci/run installs them).
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import {
  FIXTURES,
  istioStatus,
  podinfoDir,
  ROOT,
  works,
  WRAPPER_ARGS,
} from "./_helpers.ts";

const ready = Deno.build.os === "linux" &&
  works("bwrap", ["--version"]) && works("ip", ["-V"]) &&
  works("unshare", ["--net", "true"]);
const why = ready ? "" : " (ignored: needs Linux, root, bwrap, ip, unshare)";

let rootfs: string | undefined;
/** A root filesystem with /deno, the libraries it links against and /etc/hosts. */
async function makeRootfs(): Promise<string> {
  if (rootfs !== undefined) return rootfs;
  const dir = await Deno.makeTempDir({ prefix: "wrapper-rootfs-" });
  for (
    const sub of ["app", "deno-dir", "proc", "dev", "tmp", "etc", "etc/podinfo"]
  ) {
    await Deno.mkdir(`${dir}/${sub}`);
  }
  // The kubelet mounts an /etc/hosts into every container; so does this pod.
  await Deno.writeTextFile(
    `${dir}/etc/hosts`,
    "127.0.0.1 localhost\n::1 localhost ip6-localhost\n",
  );
  const deno = await Deno.realPath(Deno.execPath());
  await Deno.copyFile(deno, `${dir}/deno`);
  const { stdout } = await new Deno.Command("ldd", { args: [deno] }).output();
  for (
    const [lib] of new TextDecoder().decode(stdout).matchAll(/\/\S+\.so[.\d]*/g)
  ) {
    await Deno.mkdir(`${dir}${lib.slice(0, lib.lastIndexOf("/"))}`, {
      recursive: true,
    });
    await Deno.copyFile(await Deno.realPath(lib), `${dir}${lib}`);
  }
  return rootfs = dir;
}

interface PodResult {
  code: number;
  stdout: string;
  stderr: string;
  requests: string[];
  stopped: boolean;
  proxied: string[];
}

interface PodOptions {
  /** Extra variables in the job container's environment. */
  env?: Record<string, string>;
  /** A downward API folder, mounted at /etc/podinfo. */
  podinfo?: string;
}

async function pod(
  scenario: string,
  options: string[],
  job: string[],
  extra: PodOptions = {},
): Promise<PodResult> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
  }).output();
  const { denoDir } = JSON.parse(new TextDecoder().decode(info.stdout));
  const wrapper = [
    "/deno",
    ...WRAPPER_ARGS,
    ...options,
    "--",
    "/deno",
    "run",
    "-A",
    "/app/tests/fixtures/e2e/job.ts",
    ...job,
  ];
  const { code, stdout, stderr } = await new Deno.Command("unshare", {
    args: [
      "--net",
      Deno.execPath(),
      "run",
      "-A",
      `${FIXTURES}e2e/pod.ts`,
      await makeRootfs(),
      ROOT.replace(/\/$/, ""),
      denoDir,
      scenario,
      JSON.stringify(wrapper),
      JSON.stringify(extra.env ?? {}),
      extra.podinfo ?? "",
    ],
  }).output();
  const text = new TextDecoder().decode(stdout);
  equal(code, 0, `${text}\n${new TextDecoder().decode(stderr)}`);
  return JSON.parse(text.trim().split("\n").at(-1)!);
}

const ISTIO = ["--plugin", "istio-proxy"];

function sidecarStopped(result: PodResult): void {
  ok(
    result.requests.includes("GET 15021/healthz/ready"),
    result.requests.join(),
  );
  ok(
    result.requests.includes("POST 15020/quitquitquit"),
    result.requests.join(),
  );
  ok(result.stopped, "the sidecar stopped");
  match(result.stderr, /\[info istio-proxy\] Sidecar stopped/);
}

Deno.test({
  name:
    `pod: the job succeeds as PID 1's child, no shell in the image, the sidecar stops${why}`,
  ignore: !ready,
  fn: async () => {
    const result = await pod("success", ISTIO, ["exit", "0"]);
    equal(result.code, 0, result.stderr);
    match(result.stdout, /^job: pid=\d+ ppid=1 shell=false$/m);
    sidecarStopped(result);
  },
});

Deno.test({
  name:
    `pod: the job fails, its exit code comes through, the sidecar stops${why}`,
  ignore: !ready,
  fn: async () => {
    const result = await pod("failure", ISTIO, ["exit", "3"]);
    equal(result.code, 3, result.stderr);
    sidecarStopped(result);
  },
});

Deno.test({
  name:
    `pod: SIGTERM to PID 1 reaches the job, and the sidecar still stops${why}`,
  ignore: !ready,
  fn: async () => {
    const result = await pod("sigterm", ISTIO, ["wait-term"]);
    match(result.stdout, /^job: got SIGTERM$/m);
    equal(result.code, 143, result.stderr);
    sidecarStopped(result);
  },
});

Deno.test({
  name:
    `pod: an orphaned grandchild is re-parented to the wrapper (PID 1), which reaps it when it exits${why}`,
  ignore: !ready,
  fn: async () => {
    const result = await pod("orphan", ISTIO, ["orphan"]);
    equal(result.code, 0, result.stderr);
    match(result.stdout, /^job: grandchild pid=\d+ ppid=1 state=reaped$/m);
    sidecarStopped(result);
  },
});

Deno.test({
  name: `pod: a remote plugin over HTTPS served inside the pod's network${why}`,
  ignore: !ready,
  fn: async () => {
    const result = await pod("remote", [
      ...ISTIO,
      "--plugin",
      "https://localhost:8443/echo.ts",
    ], ["exit", "0"]);
    equal(result.code, 0, result.stderr);
    match(result.stderr, /^\[info echo\] Command ended code=0/m);
    ok(result.requests.includes("POST 15020/quitquitquit"));
  },
});

Deno.test({
  name:
    `pod: the metadata shows Istio and its sidecar listens late: auto waits for it, then it stops${why}`,
  ignore: !ready,
  fn: async () => {
    await using podinfo = await podinfoDir({
      "sidecar.istio.io/status": istioStatus(),
    });
    const result = await pod("late", [], ["exit", "0"], {
      env: { WRAPPER_PLUGIN_PATH: "auto", WRAPPER_READY_ABSENT_AFTER: "100ms" },
      podinfo: podinfo.path,
    });
    equal(result.code, 0, result.stderr);
    match(result.stderr, /\[info istio-proxy\] Sidecar ready/);
    sidecarStopped(result);
  },
});

Deno.test({
  name:
    `pod: SIGTERM to PID 1 while a remote plugin is fetched: 143, the sidecar stops${why}`,
  ignore: !ready,
  fn: async () => {
    const result = await pod("sigterm-fetch", [
      ...ISTIO,
      "--plugin",
      "https://localhost:8443/echo.ts",
    ], ["exit", "0"]);
    equal(result.code, 143, result.stderr);
    ok(!/^job:/m.test(result.stdout), "the job did not start");
    ok(result.requests.includes("POST 15020/quitquitquit"));
    ok(result.stopped, "the sidecar stopped");
  },
});

Deno.test({
  name:
    `pod: HTTP_PROXY and ALL_PROXY set in the pod: the proxy sees nothing, the sidecar stops${why}`,
  ignore: !ready,
  fn: async () => {
    const proxy = "http://127.0.0.1:3128";
    const result = await pod("proxy", ISTIO, ["exit", "0"], {
      env: { HTTP_PROXY: proxy, ALL_PROXY: proxy, http_proxy: proxy },
    });
    equal(result.code, 0, result.stderr);
    // Deno's own update check under `deno run` (CONNECT dl.deno.land:443)
    // may use the proxy, as it should; nothing to loopback may.
    deepStrictEqual(
      result.proxied.filter((line) => /localhost|127\.|::1/.test(line)),
      [],
    );
    sidecarStopped(result);
  },
});
