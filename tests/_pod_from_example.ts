// Turns a Job's (or a CronJob's) pod template from examples/ into the Pod a
// cluster would run, for `podman kube play`: what the kubelet and the
// injectors would add is added here, and nothing of the wrapper's part is
// changed. Only the images (built here, never pulled), the job's own program
// (the test job) and the remote plugin's host (a stand-in in the pod) change.
import type {
  IContainer,
  IPodSpec,
  IPodTemplateSpec,
} from "npm:kubernetes-models@5.1.0/v1";
import { parseAllDocuments } from "npm:yaml@2.9.1";
import { istioStatus, kubeletFormat } from "./_helpers.ts";
import { IMAGES, TEST_DIR } from "./_podman.ts";

/** How the pod differs from the example's happy path. */
export interface Scenario {
  /** The test job's mode and argument (fixtures/e2e/job.ts): default exit 0. */
  job?: string[];
  /** False: Istio's injector does not run (a pod with no mesh). */
  inject?: boolean;
  /** The Istio stand-in starts listening this long after it starts. */
  lateMs?: number;
}

/** A Pod to play, and the roles of its containers (podman's names). */
export interface PodPlan {
  name: string;
  pod: {
    apiVersion: "v1";
    kind: "Pod";
    metadata: { name: string };
    spec: IPodSpec;
  };
  /** The container running the wrapper. */
  job: string;
  /** Stand-in sidecars the wrapper must tell to quit. */
  sidecars: string[];
  /** Native sidecars: stopped by the kubelet (the test) after the job. */
  native: string[];
  /** Other helpers that end by themselves (the plugin server). */
  helpers: string[];
}

/** Where the remote-plugin example's host is served inside the test pod. */
export const PLUGIN_HOST = "https://wrapper-plugins.platform.example/";
const PLUGIN_STAND_IN = "https://localhost:8443/";

/** The stand-in profile of each sidecar container the examples name. */
const PROFILES: Record<string, string> = {
  "istio-proxy": "istio-proxy",
  "cloud-sql-proxy": "cloud-sql-proxy",
  "metrics-pusher": "http",
};

const deno = (image: string) =>
  image === IMAGES.plain ? "/usr/bin/deno" : "/wrapper-runtime/deno";
const fixture = (path: string) => `${TEST_DIR}/tests/fixtures/${path}`;

/** The example's pod template, whether a Job's or a CronJob's. */
export function templateOf(text: string): IPodTemplateSpec {
  const object = parseAllDocuments(text)[0]!.toJS();
  return object.kind === "CronJob"
    ? object.spec.jobTemplate.spec.template
    : object.spec.template;
}

/**
 * The Pod for `text` (an example), named `name`, its downward API volume
 * written into `podinfo` as the kubelet writes it.
 */
export async function podFromExample(
  text: string,
  name: string,
  podinfo: string,
  scenario: Scenario = {},
): Promise<PodPlan> {
  const template = templateOf(text);
  const spec = structuredClone(template.spec!) as IPodSpec;
  const labels = { ...template.metadata?.labels };
  const annotations = { ...template.metadata?.annotations };
  const plan: PodPlan = {
    name,
    pod: { apiVersion: "v1", kind: "Pod", metadata: { name }, spec },
    job: "",
    sidecars: [],
    native: [],
    helpers: [],
  };
  const full = (container: string) => `${name}-${container}`;
  if (labels["sidecar.istio.io/inject"] === "true") {
    if (scenario.inject === false) delete labels["sidecar.istio.io/inject"];
    else {
      annotations["sidecar.istio.io/status"] = istioStatus();
      spec.containers.push({
        name: "istio-proxy",
        image: "istio/proxyv2",
        env: [{ name: "LATE_MS", value: String(scenario.lateMs ?? 0) }],
      });
    }
  }
  const natives = (spec.initContainers ?? []).filter((c) =>
    c.restartPolicy === "Always"
  );
  spec.initContainers = (spec.initContainers ?? []).filter((c) =>
    c.restartPolicy !== "Always"
  );
  spec.containers.unshift(...natives.map((c) => ({ name: c.name, image: "" })));
  for (const container of spec.initContainers) {
    container.image = IMAGES.wrapper; // the wrapper's image, --install
  }
  for (const container of spec.containers) {
    if (container.command?.[0]?.endsWith("/wrapper")) {
      jobContainer(container, scenario, plan, full);
    } else {
      standIn(container);
      const role = natives.some((c) => c.name === container.name)
        ? plan.native
        : plan.sidecars;
      role.push(full(container.name));
    }
  }
  for (const container of [...spec.initContainers, ...spec.containers]) {
    container.imagePullPolicy = "Never";
  }
  if (spec.initContainers.length === 0) delete spec.initContainers;
  addPluginServer(spec, plan, full);
  await downwardApi(spec, podinfo, annotations, labels);
  // podman 4.3 refuses annotation values over 63 characters (Kubernetes
  // allows 256 KiB): the pod keeps the short ones, the wrapper reads them all
  // from the downward API's file, as in a cluster.
  const short = Object.entries(annotations).filter(([, v]) => v.length <= 63);
  Object.assign(plan.pod.metadata, {
    labels,
    annotations: Object.fromEntries(short),
  });
  return plan;
}

/** The wrapper's container: the example's command, the test job as args. */
function jobContainer(
  container: IContainer,
  scenario: Scenario,
  plan: PodPlan,
  full: (name: string) => string,
): void {
  // The wrapper at /wrapper comes with the job's image; elsewhere it was
  // copied in, and the job's image is one without it.
  container.image = container.command![0] === "/wrapper"
    ? IMAGES.fixtures
    : IMAGES.plain;
  container.args = [
    deno(container.image),
    "run",
    "--no-config",
    "-A",
    fixture("e2e/job.ts"),
    ...(scenario.job ?? ["exit", "0"]),
  ];
  for (const variable of container.env ?? []) {
    if (variable.value?.includes(PLUGIN_HOST)) {
      variable.value = variable.value.replaceAll(PLUGIN_HOST, PLUGIN_STAND_IN);
      container.env!.push({ name: "DENO_CERT", value: fixture("tls/ca.pem") });
    }
  }
  plan.job = full(container.name);
}

/** A sidecar container: the stand-in, as the profile of its name. */
function standIn(container: IContainer): void {
  const profile = PROFILES[container.name];
  if (profile === undefined) {
    throw new Error(`no stand-in for ${container.name}`);
  }
  container.image = IMAGES.fixtures;
  container.command = [
    deno(IMAGES.fixtures),
    "run",
    "--no-config",
    "-A",
    fixture("pod/sidecar.ts"),
    profile,
  ];
  delete container.args;
  delete container.startupProbe;
  delete container.restartPolicy;
}

/** The remote plugin's host: a stand-in in the pod that serves it once. */
function addPluginServer(
  spec: IPodSpec,
  plan: PodPlan,
  full: (name: string) => string,
): void {
  const job = spec.containers.find((c) => full(c.name) === plan.job);
  const path = job?.env?.find((v) => v.value?.includes(PLUGIN_STAND_IN));
  if (path === undefined) return;
  const file = /https:\/\/localhost:8443\/[^#,]*\/([^/#,]+)#/.exec(
    path.value!,
  )![1]!;
  spec.containers.unshift({
    name: "plugin-server",
    image: IMAGES.fixtures,
    imagePullPolicy: "Never",
    command: [
      deno(IMAGES.fixtures),
      "run",
      "--no-config",
      "-A",
      fixture("pod/sidecar.ts"),
      "plugin-server",
      `/wrapper-runtime/app/plugins/${file}`,
    ],
  });
  plan.helpers.push(full("plugin-server"));
}

/**
 * podman has no downwardAPI volume: the kubelet's files are written here
 * (one `key="value"` line per entry) and mounted from the host.
 */
async function downwardApi(
  spec: IPodSpec,
  folder: string,
  annotations: Record<string, string>,
  labels: Record<string, string>,
): Promise<void> {
  const fields: Record<string, Record<string, string>> = {
    "metadata.annotations": annotations,
    "metadata.labels": labels,
  };
  for (const volume of spec.volumes ?? []) {
    if (volume.downwardAPI === undefined) continue;
    for (const item of volume.downwardAPI.items ?? []) {
      const map = fields[item.fieldRef?.fieldPath ?? ""];
      if (map === undefined) throw new Error(`unsupported ${item.path}`);
      const file = `${folder}/${item.path}`;
      await Deno.writeTextFile(
        file,
        kubeletFormat(new Map(Object.entries(map))),
      );
      await Deno.chmod(file, 0o644);
    }
    await Deno.chmod(folder, 0o755);
    delete volume.downwardAPI;
    volume.hostPath = { path: folder, type: "Directory" };
  }
}
