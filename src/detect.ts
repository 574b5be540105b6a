/**
 * Which sidecars a pod has, read from the marks the injectors leave in its
 * annotations. Pure rules: each one names the entry it trusts and the
 * injector source it was verified against (see the README's "Pod metadata").
 * @module
 */
import type { DetectedSidecar, PodInfo } from "./podinfo.ts";

type Rule = (pod: PodInfo) => DetectedSidecar | undefined;

const ISTIO_STATUS = "sidecar.istio.io/status";
const ISTIO_STATUS_PORT = "status.sidecar.istio.io/port";
const LINKERD_VERSION = "linkerd.io/proxy-version";
const LINKERD_NATIVE = "config.beta.linkerd.io/proxy-enable-native-sidecar";
const LINKERD_NATIVE_ALPHA =
  "config.alpha.linkerd.io/proxy-enable-native-sidecar";
const LINKERD_SHUTDOWN = "config.linkerd.io/proxy-admin-shutdown";
const CONSUL_STATUS = "consul.hashicorp.com/connect-inject-status";
const CONSUL_NATIVE = "consul.hashicorp.com/enable-consul-dataplane-as-sidecar";
const VAULT_STATUS = "vault.hashicorp.com/agent-inject-status";
const VAULT_PREPOPULATE_ONLY = "vault.hashicorp.com/agent-pre-populate-only";
const VAULT_ENABLE_QUIT = "vault.hashicorp.com/agent-enable-quit";
const DAPR_ENABLED = "dapr.io/enabled";
const DAPR_INJECTED = "dapr.io/sidecar-injected";

/** Istio: the injector records the containers it added, as JSON. */
const istio: Rule = ({ annotations }) => {
  const raw = annotations.get(ISTIO_STATUS);
  if (raw === undefined) return undefined;
  const status = parseObject(raw);
  if (status === undefined) {
    // Only the injector writes it: Istio is there, however it is spelled.
    return {
      plugin: "istio-proxy",
      native: false,
      evidence: `${ISTIO_STATUS} is set`,
      warning:
        `${ISTIO_STATUS} is not the injector's JSON: taking istio-proxy as a regular sidecar`,
    };
  }
  const has = (list: unknown) =>
    Array.isArray(list) && list.includes("istio-proxy");
  const native = has(status.initContainers);
  if (!native && !has(status.containers)) return undefined;
  const sidecar: DetectedSidecar = {
    plugin: "istio-proxy",
    native,
    evidence: `${ISTIO_STATUS} lists istio-proxy in ${
      native ? "initContainers" : "containers"
    }`,
  };
  if (annotations.get(ISTIO_STATUS_PORT) === "0" && !native) {
    sidecar.warning =
      `${ISTIO_STATUS_PORT} is "0": pilot-agent has no status port, so it cannot be told to quit`;
  }
  return sidecar;
};

/** A JSON object, or undefined for anything else (`null`, junk). */
function parseObject(raw: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(raw);
    return value !== null && typeof value === "object" && !Array.isArray(value)
      ? value as Record<string, unknown>
      : undefined;
  } catch {
    return undefined;
  }
}

/** Linkerd: the injector stamps the proxy's version on every pod it injects. */
const linkerd: Rule = ({ annotations }) => {
  if (!annotations.has(LINKERD_VERSION)) return undefined;
  const native = annotations.get(LINKERD_NATIVE) === "true" ||
    annotations.get(LINKERD_NATIVE_ALPHA) === "true";
  const sidecar: DetectedSidecar = {
    plugin: "linkerd",
    native,
    evidence: `${LINKERD_VERSION} is set${
      native ? ", native sidecar enabled" : ""
    }`,
  };
  if (!native && annotations.get(LINKERD_SHUTDOWN) !== "enabled") {
    sidecar.warning =
      `the proxy's /shutdown endpoint is off unless the pod is annotated ${LINKERD_SHUTDOWN}: enabled`;
  }
  return sidecar;
};

/** Consul: connect-inject marks the pods it injected. */
const consul: Rule = ({ annotations }) => {
  if (annotations.get(CONSUL_STATUS) !== "injected") return undefined;
  const native = annotations.get(CONSUL_NATIVE) === "true";
  return {
    plugin: "consul-dataplane",
    native,
    evidence: `${CONSUL_STATUS} is "injected"${
      native ? `, ${CONSUL_NATIVE} is "true"` : ""
    }`,
  };
};

/** Vault: the agent injector marks the pods it injected. */
const vault: Rule = ({ annotations }) => {
  if (annotations.get(VAULT_STATUS) !== "injected") return undefined;
  if (annotations.get(VAULT_PREPOPULATE_ONLY) === "true") return undefined;
  const sidecar: DetectedSidecar = {
    plugin: "vault-agent",
    native: false,
    evidence: `${VAULT_STATUS} is "injected"`,
  };
  if (annotations.get(VAULT_ENABLE_QUIT) !== "true") {
    sidecar.warning =
      `the agent has no quit endpoint unless the pod is annotated ${VAULT_ENABLE_QUIT}: "true" (or use ${VAULT_PREPOPULATE_ONLY}: "true" for Jobs)`;
  }
  return sidecar;
};

/**
 * Dapr: the injector labels the pods it injected daprd into. Without the
 * labels file, the annotation that asks for injection is the best evidence.
 */
const dapr: Rule = ({ annotations, labels }) => {
  const evidence = labels === undefined
    ? annotations.get(DAPR_ENABLED) === "true" &&
      `annotation ${DAPR_ENABLED} is "true" (no labels file)`
    : labels.get(DAPR_INJECTED) === "true" &&
      `label ${DAPR_INJECTED} is "true"`;
  return evidence ? { plugin: "dapr", native: false, evidence } : undefined;
};

const RULES: readonly Rule[] = [istio, linkerd, consul, vault, dapr];

/** The built-ins whose sidecar the metadata can show, or show absent. */
export const DETECTABLE_PLUGINS: ReadonlySet<string> = new Set([
  "istio-proxy",
  "linkerd",
  "consul-dataplane",
  "vault-agent",
  "dapr",
]);

/** The sidecars the pod's metadata shows, in a stable order. */
export function detectSidecars(pod: PodInfo): DetectedSidecar[] {
  return RULES.flatMap((rule) => rule(pod) ?? []);
}
