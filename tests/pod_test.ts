// Real pods: every manifest in examples/ turned into the Pod a cluster would
// run and played by podman with runc, from images built here FROM scratch
// (the wrapper's Containerfile, and stand-ins for the sidecars). The job's
// exit code is its container's, every sidecar is told to quit and exits, and
// every container ends; `podman pod stop`, a late sidecar and a pod with no
// mesh behave as the README says. See _podman.ts for what podman needs.
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import "./_no_node_deprecations.ts";
import { type ContainerEnd, IMAGES, Podman, podmanProblem } from "./_podman.ts";
import {
  podFromExample,
  type PodPlan,
  type Scenario,
} from "./_pod_from_example.ts";
import { ROOT } from "./_helpers.ts";

const why = podmanProblem === "" ? "" : ` (ignored: ${podmanProblem})`;
const ignore = podmanProblem !== "";

let podman: Promise<Podman> | undefined;
let created: Podman | undefined;
/** The module's podman, its images built on first use. */
async function ready(): Promise<Podman> {
  podman ??= Podman.create().then((instance) => created = instance);
  const instance = await podman;
  await instance.images();
  return instance;
}
// Everything the run made goes at the end: pods, images, storage. A run
// interrupted (the test runner exits on Ctrl-C without "unload") is cleaned
// up by the next one (Podman.create).
globalThis.addEventListener("unload", () => created?.removeSync());

let pods = 0;

/** What a played pod did. */
interface Played {
  plan: PodPlan;
  job: ContainerEnd;
  ends: Map<string, ContainerEnd>;
}

/** Play `example` as a pod; wait for the job, then for every container. */
async function play(
  example: string,
  scenario: Scenario = {},
  during?: (podman: Podman, plan: PodPlan) => Promise<void>,
): Promise<Played> {
  const instance = await ready();
  const podinfo = await Deno.makeTempDir({ prefix: "podinfo-" });
  try {
    const name = `p${++pods}-${example.replace(/\.yaml$/, "")}`;
    const plan = await podFromExample(
      await Deno.readTextFile(`${ROOT}examples/${example}`),
      name,
      podinfo,
      scenario,
    );
    await instance.play(plan.pod);
    await during?.(instance, plan);
    await instance.wait(plan.job);
    // The kubelet stops native sidecars once the job's container has ended.
    for (const native of plan.native) {
      await instance.run(["stop", "--time", "1", native]);
    }
    const ends = new Map<string, ContainerEnd>();
    for (const name of [...plan.sidecars, ...plan.native, ...plan.helpers]) {
      await instance.wait(name);
    }
    for (
      const name of [
        plan.job,
        ...plan.sidecars,
        ...plan.native,
        ...plan.helpers,
      ]
    ) {
      ends.set(name, await instance.end(name));
    }
    return { plan, job: ends.get(plan.job)!, ends };
  } finally {
    await instance.clean();
    await Deno.remove(podinfo, { recursive: true });
  }
}

/** Every sidecar accepted a quit and exited 0 on it (not SIGKILL's 137). */
function sidecarsQuit(played: Played): void {
  ok(played.plan.sidecars.length > 0, "the pod has sidecars");
  for (const name of played.plan.sidecars) {
    const end = played.ends.get(name)!;
    match(end.stdout, /^sidecar: quit accepted$/m, `${name}: ${end.stdout}`);
    equal(end.exitCode, 0, `${name}: ${end.stdout}`);
  }
}

/**
 * From the job's exit (its last line, stamped by conmon) to its sidecars'
 * ends and to the last container's, in ms.
 */
function timings(played: Played): { sidecars: number; all: number } {
  const ends = [...played.ends.values()];
  const last = (list: ContainerEnd[]) =>
    Math.max(...list.map((end) => end.finishedAt)) - played.job.lastLineAt;
  return {
    sidecars: last(ends.filter((e) => played.plan.sidecars.includes(e.name))),
    all: last(ends),
  };
}

/** The job's line on stdout: ran by the wrapper, no shell in the image. */
function jobRan(played: Played): void {
  match(
    played.job.stdout,
    /^job: pid=\d+ ppid=1 shell=false$/m,
    played.job.stderr,
  );
}

function report(what: string, played: Played): void {
  const { sidecars, all } = timings(played);
  Deno.stderr.writeSync(new TextEncoder().encode(
    `pod ${what}: job exit -> sidecars exited ${
      sidecars.toFixed(0)
    } ms -> all ended ${all.toFixed(0)} ms\n`,
  ));
}

const EXAMPLES: Array<[string, Scenario, number]> = [
  ["job-istio.yaml", {}, 0],
  ["cronjob-istio.yaml", {}, 0],
  ["job-two-sidecars.yaml", { job: ["exit", "3"] }, 3],
  ["job-remote-plugin.yaml", {}, 0],
  ["job-copy-in.yaml", {}, 0],
];

for (const [example, scenario, code] of EXAMPLES) {
  Deno.test({
    name:
      `pod: examples/${example} exits ${code}, its sidecars quit, every container ends${why}`,
    ignore,
    fn: async () => {
      const played = await play(example, scenario);
      equal(played.job.exitCode, code, played.job.stderr);
      jobRan(played);
      sidecarsQuit(played);
      report(example, played);
    },
  });
}

Deno.test({
  name:
    `pod: examples/job-native-sidecars.yaml sends no quit; the kubelet stops the native sidecar${why}`,
  ignore,
  fn: async () => {
    const played = await play("job-native-sidecars.yaml");
    equal(played.job.exitCode, 0, played.job.stderr);
    jobRan(played);
    deepStrictEqual(played.plan.sidecars, []);
    const native = played.ends.get(played.plan.native[0]!)!;
    ok(!native.stdout.includes("quit accepted"), native.stdout);
    match(native.stdout, /^sidecar: listening on 9090$/m); // it ran, beside the job
  },
});

Deno.test({
  name:
    `pod: podman pod stop (SIGTERM, SIGKILL after 10 s) reaches the job through the wrapper, and the sidecar still quits${why}`,
  ignore,
  fn: async () => {
    const played = await play(
      "job-istio.yaml",
      { job: ["wait-term"] },
      async (podman, plan) => {
        await podman.written(plan.job, "job: ready");
        await podman.run(["pod", "stop", "--time", "10", plan.name]);
      },
    );
    match(played.job.stdout, /^job: got SIGTERM$/m, played.job.stderr);
    equal(played.job.exitCode, 143, played.job.stderr);
    sidecarsQuit(played); // exit 0 on the quit, not 137 from SIGKILL
    report("stopped", played);
  },
});

Deno.test({
  name:
    `pod: an Istio sidecar listening 3 s late is waited for (the metadata shows it), then quits${why}`,
  ignore,
  fn: async () => {
    const played = await play("job-istio.yaml", { lateMs: 3000 });
    equal(played.job.exitCode, 0, played.job.stderr);
    match(played.job.stderr, /Sidecar ready/);
    jobRan(played);
    sidecarsQuit(played);
  },
});

Deno.test({
  name:
    `pod: with no mesh (no injection) the job starts without waiting and the pod completes${why}`,
  ignore,
  fn: async () => {
    const played = await play("job-istio.yaml", { inject: false });
    equal(played.job.exitCode, 0, played.job.stderr);
    jobRan(played);
    deepStrictEqual(played.plan.sidecars, []);
    ok(
      !/Still waiting|Sidecar ready/.test(played.job.stderr),
      played.job.stderr,
    );
  },
});

Deno.test({
  name:
    `pod: the wrapper's image has no shell, a numeric non-root user, and starts offline with an empty read-only DENO_DIR${why}`,
  ignore,
  fn: async () => {
    const podman = await ready();
    const { stdout: user } = await podman.run([
      "image",
      "inspect",
      "--format",
      "{{.Config.User}}",
      IMAGES.wrapper,
    ]);
    equal(user.trim(), "65532:65532");
    const shell = await podman.run(
      [
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/sh",
        IMAGES.wrapper,
      ],
      true,
    );
    ok(shell.code !== 0, "no /bin/sh");
    match(shell.stderr, /\/bin\/sh.*(no such file|not found)/i);
    const run = await podman.run([
      "run",
      "--rm",
      "--network",
      "none",
      "--read-only",
      "--env",
      "DENO_DIR=/nonexistent",
      IMAGES.wrapper,
      "--plugin",
      "echo",
      "--",
      "/wrapper",
      "--version",
    ], true);
    equal(run.code, 0, run.stderr);
    match(run.stdout, /^wrapper \d+\.\d+\.\d+$/m);
    match(run.stderr, /\[info echo\] Command ended code=0/);
    // Nothing but the wrapper's own lines: no download, no Deno warning.
    deepStrictEqual(
      run.stderr.trim().split("\n").filter((line) =>
        !/^\[info echo\] /.test(line)
      ),
      [],
    );
    const mib = (await podman.imageSize(IMAGES.wrapper)) / 2 ** 20;
    Deno.stderr.writeSync(
      new TextEncoder().encode(
        `image ${IMAGES.wrapper}: ${mib.toFixed(1)} MiB\n`,
      ),
    );
  },
});
