// Pod-like end-to-end tests: the wrapper as PID 1 of a fresh PID namespace, in
// a fresh network namespace whose loopback it shares only with a stand-in
// sidecar, in a read-only root filesystem with no shell, sleep or curl — only
// /deno, its libraries, the wrapper and the job (see fixtures/e2e/pod.ts).
// Needs Linux, root (for unshare --net), bubblewrap, iproute2 and util-linux (.ci/run installs them).
import { equal, match, ok } from "node:assert/strict";
import { FIXTURES, ROOT, WRAPPER_ARGS } from "./_helpers.ts";

function works(command: string, args: string[]): boolean {
  try {
    return new Deno.Command(command, { args, stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}
const ready = Deno.build.os === "linux" &&
  works("bwrap", ["--version"]) && works("ip", ["-V"]) &&
  works("unshare", ["--net", "true"]);
const why = ready ? "" : " (ignored: needs Linux, root, bwrap, ip, unshare)";

let rootfs: string | undefined;
/** A root filesystem with /deno, the libraries it links against and /etc/hosts. */
async function makeRootfs(): Promise<string> {
  if (rootfs !== undefined) return rootfs;
  const dir = await Deno.makeTempDir({ prefix: "wrapper-rootfs-" });
  for (const sub of ["app", "deno-dir", "proc", "dev", "tmp", "etc"]) {
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
}

async function pod(
  scenario: string,
  options: string[],
  job: string[],
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
    `pod: an orphaned grandchild stays a zombie of PID 1 (documented: use tini or shareProcessNamespace)${why}`,
  ignore: !ready,
  fn: async () => {
    const result = await pod("orphan", ISTIO, ["orphan"]);
    equal(result.code, 0, result.stderr);
    match(result.stdout, /^job: grandchild pid=\d+ state=Z ppid=1$/m);
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
