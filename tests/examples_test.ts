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

Deno.test("the examples cover Job, CronJob, remote pin, two sidecars and native sidecars", () => {
  deepStrictEqual(files, [
    "cronjob-istio.yaml",
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
      const template: IPodTemplateSpec = object.kind === "CronJob"
        ? object.spec.jobTemplate.spec.template
        : object.spec.template;
      checkWrapperContainer(file, object, template);
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
  const wrapped = containers.filter((c) => c.command?.[0] === "/wrapper");
  equal(wrapped.length, 1, `${file}: one container runs /wrapper`);
  const container = wrapped[0]!;
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
