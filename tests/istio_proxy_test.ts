// The istio-proxy built-in against a stand-in pilot-agent on 127.0.0.1.
import { deepStrictEqual, equal, match } from "node:assert/strict";
import { closedPort, fakePilotAgent, wrapper } from "./_helpers.ts";

const quitUrl = (port: number) => ({
  WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL: `http://127.0.0.1:${port}/quitquitquit`,
});

Deno.test("istio-proxy POSTs /quitquitquit after the command and keeps its exit code", async () => {
  await using sidecar = fakePilotAgent();
  const result = await wrapper(["-p", "istio-proxy", "sh", "-c", "exit 3"], {
    env: quitUrl(sidecar.port),
  });
  equal(result.code, 3);
  deepStrictEqual(sidecar.requests.map((r) => `${r.method} ${r.path}`), [
    "POST /quitquitquit",
  ]);
  match(
    result.stderr,
    /^\[info istio-proxy\] Asked the sidecar to quit url=\S+ status=200 exitCode=3$/m,
  );
});

Deno.test("istio-proxy with no sidecar listening logs one info line", async () => {
  const result = await wrapper(["-p", "istio-proxy", "true"], {
    env: quitUrl(closedPort()),
  });
  equal(result.code, 0);
  match(
    result.stderr,
    /^\[info istio-proxy\] No sidecar listening: nothing to stop url=\S+\n$/,
  );
});

Deno.test("istio-proxy reports a refused quit (403) without changing the exit code", async () => {
  await using sidecar = fakePilotAgent(403);
  const result = await wrapper(["-p", "istio-proxy", "sh", "-c", "exit 9"], {
    env: quitUrl(sidecar.port),
  });
  equal(result.code, 9);
  match(
    result.stderr,
    /Hook failed plugin=istio-proxy hook=afterExit error="Error: pilot-agent refused to quit: HTTP 403 forbidden"/,
  );
});
