// Kubernetes examples: valid YAML, valid against the Kubernetes API schemas
// (offline, from kubernetes-models), and every wrapper setting in them real.
import { deepStrictEqual, equal, ok } from "node:assert/strict";
import "./_no_node_deprecations.ts";
import { CronJob, Job } from "npm:kubernetes-models@5.1.0/batch/v1";
import type {
  IContainer,
  IPodTemplateSpec,
} from "npm:kubernetes-models@5.1.0/v1";
import { parseAllDocuments } from "npm:yaml@2.9.1";
import { parseConfig, unusedEnvVars } from "../src/config.ts";
import { AUTO_SPEC, planPlugins } from "../src/plan.ts";
import { DEFAULT_PODINFO_DIR } from "../src/podinfo.ts";
import { ROOT } from "./_helpers.ts";

const files = [...Deno.readDirSync(`${ROOT}examples`)]
  .filter((entry) => entry.name.endsWith(".yaml"))
  .map((entry) => entry.name)
  .sort();

Deno.test("the examples cover Job, CronJob, copy-in, remote pin, two sidecars and native sidecars", () => {
  deepStrictEqual(files, [
    "cronjob-istio.yaml",
    "job-copy-in.yaml",
    "job-istio.yaml",
    "job-native-sidecars.yaml",
    "job-remote-plugin.yaml",
    "job-two-sidecars.yaml",
  ]);
});

for (const file of files) {
  Deno.test(`examples/${file} is valid YAML and a valid Kubernetes object`, async () => {
    const docs = parseAllDocuments(
      await Deno.readTextFile(`${ROOT}examples/${file}`),
    );
    ok(docs.length > 0);
    for (const doc of docs) {
      deepStrictEqual(doc.errors, [], file);
      const object = doc.toJS();
      const model = object.kind === "CronJob"
        ? new CronJob(object)
        : object.kind === "Job"
        ? new Job(object)
        : undefined;
      ok(model !== undefined, `${file}: unexpected kind ${object.kind}`);
      model.validate(); // throws with the schema path on an invalid field
      const job = object.kind === "CronJob"
        ? object.spec.jobTemplate.spec
        : object.spec;
      const template: IPodTemplateSpec = job.template;
      ok(job.activeDeadlineSeconds > 0, `${file}: activeDeadlineSeconds`);
      ok(job.ttlSecondsAfterFinished > 0, `${file}: ttlSecondsAfterFinished`);
      checkWrapperContainer(file, object, template);
      for (
        const container of [
          ...template.spec?.initContainers ?? [],
          ...template.spec?.containers ?? [],
        ]
      ) restricted(`${file} ${container.name}`, container);
      await checkPins(file, template);
      checkCopyIn(file, template);
    }
  });
}

/** The wrapper's container: its flags and WRAPPER_* variables must all be real. */
function checkWrapperContainer(
  file: string,
  object: { metadata: { labels?: Record<string, string> } },
  template: IPodTemplateSpec,
): void {
  const containers: IContainer[] = template.spec?.containers ?? [];
  const wrapped = containers.filter((c) =>
    c.command?.[0]?.endsWith("/wrapper")
  );
  equal(wrapped.length, 1, `${file}: one container runs the wrapper`);
  const container = wrapped[0]!;
  restricted(file, container);
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    env[variable.name] = variable.value ?? "";
  }
  const config = parseConfig([
    ...container.command!.slice(1),
    ...(container.args ?? []),
  ], env);
  ok(config.command.length > 0, `${file}: a command after the options`);
  const plan = planPlugins(config.plugins, undefined);
  deepStrictEqual(plan.problems, [], `${file}: plugin specs`);
  const names = plan.plugins.map((p) => p.fallbackName);
  deepStrictEqual(
    unusedEnvVars(env, names),
    [],
    `${file}: unknown WRAPPER_* variables`,
  );
  if (config.plugins.includes(AUTO_SPEC)) {
    checkPodinfoVolume(file, container, template);
  }
  if (file.includes("istio")) {
    equal(template.metadata?.labels?.["sidecar.istio.io/inject"], "true", file);
    equal(object.metadata.labels?.["sidecar.istio.io/inject"], undefined, file);
  }
  if (file.includes("native")) {
    equal(config.nativeSidecars, true, file);
    ok(
      template.spec?.initContainers?.some((c) => c.restartPolicy === "Always"),
      file,
    );
  }
}

/** `auto` needs the downward API volume, at the folder the wrapper reads. */
function checkPodinfoVolume(
  file: string,
  container: IContainer,
  template: IPodTemplateSpec,
): void {
  const mount = container.volumeMounts?.find((m) =>
    m.mountPath === DEFAULT_PODINFO_DIR
  );
  ok(mount !== undefined, `${file}: podinfo mounted at ${DEFAULT_PODINFO_DIR}`);
  const volume = template.spec?.volumes?.find((v) => v.name === mount.name);
  const items = volume?.downwardAPI?.items ?? [];
  deepStrictEqual(
    items.map((item) => [item.path, item.fieldRef?.fieldPath]),
    [["annotations", "metadata.annotations"], ["labels", "metadata.labels"]],
    `${file}: downward API items`,
  );
}

/** The restricted Pod Security Standard, for every container of an example. */
function restricted(file: string, container: IContainer): void {
  const context = container.securityContext;
  equal(context?.runAsNonRoot, true, `${file}: runAsNonRoot`);
  equal(
    context?.readOnlyRootFilesystem,
    true,
    `${file}: readOnlyRootFilesystem`,
  );
  equal(
    context?.allowPrivilegeEscalation,
    false,
    `${file}: no privilege escalation`,
  );
  deepStrictEqual(context?.capabilities?.drop, ["ALL"], `${file}: drop ALL`);
  equal(context?.seccompProfile?.type, "RuntimeDefault", `${file}: seccomp`);
}

/** A pinned plugin's hash is the real one of the file of that name in plugins/. */
async function checkPins(
  file: string,
  template: IPodTemplateSpec,
): Promise<void> {
  const values = (template.spec?.containers ?? []).flatMap((c) =>
    (c.env ?? []).map((v) => v.value ?? "")
  );
  const text = values.join(",");
  const pins = [...text.matchAll(/\/([\w.-]+\.ts)#sha256=([0-9a-f]+)/g)];
  // Every "#sha256=" is a pin that is checked here (none is missed).
  equal(pins.length, text.split("#sha256=").length - 1, file);
  if (file.includes("remote")) ok(pins.length > 0, `${file}: a pinned plugin`);
  for (const [, name, pin] of pins) {
    const bytes = await Deno.readFile(`${ROOT}plugins/${name}`);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join(
      "",
    );
    equal(pin, hex, `${file}: the pin of ${name} is sha256sum plugins/${name}`);
  }
}

/** Copy-in: an init container installs into the emptyDir the job's container runs it from. */
function checkCopyIn(file: string, template: IPodTemplateSpec): void {
  const installers = (template.spec?.initContainers ?? []).filter((c) =>
    c.args?.[0] === "--install"
  );
  if (!file.includes("copy-in")) return equal(installers.length, 0, file);
  equal(installers.length, 1, `${file}: one init container installs`);
  const installer = installers[0]!;
  restricted(file, installer);
  const config = parseConfig(installer.args!, {});
  equal(config.action, "install");
  const mount = installer.volumeMounts!.find((m) =>
    m.mountPath === config.installDir
  )!;
  const volume = template.spec!.volumes!.find((v) => v.name === mount.name)!;
  ok(volume.emptyDir !== undefined, `${file}: an emptyDir`);
  const job = template.spec!.containers.find((c) =>
    c.command?.[0] === `${config.installDir}/wrapper`
  )!;
  ok(job, `${file}: the job's container runs ${config.installDir}/wrapper`);
  ok(
    job.volumeMounts!.some((m) =>
      m.name === mount.name && m.mountPath === config.installDir && m.readOnly
    ),
    `${file}: the job's container mounts it read-only`,
  );
}
