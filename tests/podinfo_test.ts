// The pod's metadata: the kubelet's downward API file format, and which
// sidecars each injector's marks show. Pure rules, no process.
import { deepStrictEqual, equal, match, ok, rejects } from "node:assert/strict";
import { detectSidecars } from "../src/detect.ts";
import { planPlugins } from "../src/plan.ts";
import {
  parseDownwardApiMap,
  type PodInfo,
  readPodInfo,
} from "../src/podinfo.ts";
import { istioStatus, kubeletFormat, podinfoDir } from "./_helpers.ts";

Deno.test("parseDownwardApiMap() reads the kubelet's key=%q lines, Go escapes included", () => {
  // As fieldpath.FormatMap writes it: sorted, %q-quoted, no final newline.
  const text = [
    String.raw`a.io/json="{\"containers\":[\"istio-proxy\"]}"`,
    String.raw`b/esc="tab\there\nline\\slash\a\v\x7f"`,
    String.raw`c/unicode="caf\u00e9 \U0001f600 snowman ☃"`,
    String.raw`d/bytes="\xe2\x98\x83"`,
    `e/empty=""`,
    `f/eq="x=y"`,
  ].join("\n");
  const problems: string[] = [];
  deepStrictEqual(
    parseDownwardApiMap(text, problems),
    new Map([
      ["a.io/json", '{"containers":["istio-proxy"]}'],
      ["b/esc", "tab\there\nline\\slash\x07\x0b\x7f"],
      ["c/unicode", "café 😀 snowman ☃"],
      ["d/bytes", "☃"],
      ["e/empty", ""],
      ["f/eq", "x=y"],
    ]),
  );
  deepStrictEqual(problems, []);
});

Deno.test("parseDownwardApiMap() skips and reports what the kubelet never writes, keeping the rest", () => {
  for (const bad of ["k=unquoted", 'k="open', '="v"', 'k="\\q"', 'k="\\x4"']) {
    const problems: string[] = [];
    const map = parseDownwardApiMap(`${bad}\nok="yes"`, problems);
    deepStrictEqual(map, new Map([["ok", "yes"]]), bad);
    equal(problems.length, 1, bad);
    match(problems[0]!, /^line 1\b.*: skipped$/);
  }
});

Deno.test("kubeletFormat() (the tests' writer) round-trips through the parser", () => {
  const map = new Map([["z", 'q"uote\n'], ["a", "☃"]]);
  const text = kubeletFormat(map);
  ok(text.startsWith('a="☃"\nz='), text);
  ok(!text.endsWith("\n"));
  deepStrictEqual(parseDownwardApiMap(text, []), map);
});

Deno.test("readPodInfo(): no folder or an empty one is no metadata; labels without annotations is an error", async () => {
  equal(await readPodInfo("/nonexistent/podinfo"), undefined);
  const empty = await Deno.makeTempDir();
  equal(await readPodInfo(empty), undefined);
  await Deno.writeTextFile(`${empty}/labels`, 'app="job"');
  await rejects(readPodInfo(empty), /add metadata\.annotations/);
  await using dir = await podinfoDir({ "a/b": "c" });
  const pod = await readPodInfo(dir.path);
  deepStrictEqual(pod?.annotations, new Map([["a/b", "c"]]));
  equal(pod?.labels, undefined);
  await Deno.remove(empty, { recursive: true });
});

function pod(
  annotations: Record<string, string>,
  labels?: Record<string, string>,
): PodInfo {
  return {
    dir: "/etc/podinfo",
    annotations: new Map(Object.entries(annotations)),
    labels: labels === undefined ? undefined : new Map(Object.entries(labels)),
    warnings: [],
  };
}

/** Istio's status annotation with these lists (the injector writes empty ones as null). */
function istioLists(init: string[] | null, containers: string[] | null) {
  return JSON.stringify({
    ...JSON.parse(istioStatus()),
    initContainers: init,
    containers,
  });
}

const CASES: Array<[string, PodInfo, Array<[string, boolean]>]> = [
  ["no mesh", pod({ "kubectl.kubernetes.io/default-container": "job" }), []],
  [
    "Istio, regular sidecar",
    pod({
      "sidecar.istio.io/status": istioStatus(),
    }),
    [["istio-proxy", false]],
  ],
  [
    "Istio, native sidecar",
    pod({
      "sidecar.istio.io/status": istioStatus(true),
    }),
    [["istio-proxy", true]],
  ],
  [
    "Istio asked for but not injected",
    pod({ "sidecar.istio.io/inject": "true" }),
    [],
  ],
  [
    "Linkerd",
    pod({
      "linkerd.io/proxy-version": "edge-24.11.1",
      "config.linkerd.io/proxy-admin-shutdown": "enabled",
    }),
    [["linkerd", false]],
  ],
  [
    "Linkerd, native sidecar",
    pod({
      "linkerd.io/proxy-version": "stable-2.16",
      "config.beta.linkerd.io/proxy-enable-native-sidecar": "true",
    }),
    [["linkerd", true]],
  ],
  [
    "Consul",
    pod({ "consul.hashicorp.com/connect-inject-status": "injected" }),
    [["consul-dataplane", false]],
  ],
  [
    "Consul, dataplane as a native sidecar",
    pod({
      "consul.hashicorp.com/connect-inject-status": "injected",
      "consul.hashicorp.com/enable-consul-dataplane-as-sidecar": "true",
    }),
    [["consul-dataplane", true]],
  ],
  [
    "Vault agent",
    pod({
      "vault.hashicorp.com/agent-inject-status": "injected",
      "vault.hashicorp.com/agent-enable-quit": "true",
    }),
    [["vault-agent", false]],
  ],
  [
    "Vault, pre-populate only (no sidecar)",
    pod({
      "vault.hashicorp.com/agent-inject-status": "injected",
      "vault.hashicorp.com/agent-pre-populate-only": "true",
    }),
    [],
  ],
  [
    "Dapr, injected (label)",
    pod({ "dapr.io/enabled": "true" }, { "dapr.io/sidecar-injected": "true" }),
    [["dapr", false]],
  ],
  [
    "Dapr asked for, labels show no injection",
    pod({ "dapr.io/enabled": "true" }, { app: "job" }),
    [],
  ],
  ["Dapr, no labels file", pod({ "dapr.io/enabled": "true" }), [[
    "dapr",
    false,
  ]]],
  [
    "Istio and Vault together",
    pod({
      "sidecar.istio.io/status": istioLists(null, ["istio-proxy"]),
      "vault.hashicorp.com/agent-inject-status": "injected",
      "vault.hashicorp.com/agent-enable-quit": "true",
    }),
    [["istio-proxy", false], ["vault-agent", false]],
  ],
];

for (const [name, info, expected] of CASES) {
  Deno.test(`detectSidecars(): ${name}`, () => {
    deepStrictEqual(
      detectSidecars(info).map((s) => [s.plugin, s.native]),
      expected,
    );
  });
}

Deno.test("detectSidecars() warns where a sidecar cannot be told to quit", () => {
  const warnings = (info: PodInfo) =>
    detectSidecars(info).map((s) => s.warning ?? "");
  ok(
    warnings(pod({ "linkerd.io/proxy-version": "x" }))[0]!.includes(
      "config.linkerd.io/proxy-admin-shutdown: enabled",
    ),
  );
  ok(
    warnings(pod({ "vault.hashicorp.com/agent-inject-status": "injected" }))[0]!
      .includes("agent-enable-quit"),
  );
  ok(
    warnings(pod({
      "sidecar.istio.io/status": istioLists(null, ["istio-proxy"]),
      "status.sidecar.istio.io/port": "0",
    }))[0]!.includes("no status port"),
  );
});

Deno.test("planPlugins(): auto and the metadata add built-ins; named plugins stay; built-ins first", () => {
  const istio = pod({
    "sidecar.istio.io/status": istioLists(null, ["istio-proxy"]),
  });
  const plan = planPlugins(["./mine.ts", "auto", "echo"], istio);
  deepStrictEqual(
    plan.plugins.map((p) => [p.spec, p.implicit]),
    [["echo", false], ["istio-proxy", true], ["./mine.ts", false]],
  );
  deepStrictEqual([...plan.detected.keys()], ["istio-proxy"]);
  equal(plan.metadata, true);
  // Named explicitly, it is not added twice.
  deepStrictEqual(
    planPlugins(["istio-proxy"], istio).plugins.map((p) => p.implicit),
    [false],
  );
  // auto without metadata: nothing added, and a warning.
  const blind = planPlugins(["auto"], undefined);
  deepStrictEqual(blind.plugins, []);
  ok(blind.warnings[0]!.includes("found no pod metadata"));
});

Deno.test("planPlugins() keeps every spec it can resolve beside the ones it cannot", () => {
  const plan = planPlugins(
    ["istio-proxy", "istio-prxy", "./p.ts#sha256:abc", "linkerd"],
    undefined,
  );
  deepStrictEqual(plan.plugins.map((p) => p.spec), ["istio-proxy", "linkerd"]);
  equal(plan.problems.length, 2);
});
