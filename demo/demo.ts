/**
 * `deno task demo`: the main job on a built-in example, with no setup.
 * Starts a stand-in for Istio's pilot-agent on a free loopback port, runs a
 * short job under the wrapper with the `istio-proxy` plugin pointed at it,
 * and shows that the quit request arrived and the job's exit code came
 * through. Exits 0 when both hold.
 * @module
 */
// deno-lint-ignore-file no-console -- the demo's output is its point
import { WRAPPER_ARGS } from "../tests/_helpers.ts";

const JOB_EXIT_CODE = 3;
const say = (line: string) => console.log(`demo: ${line}`);

// 1. A stand-in sidecar: answers like pilot-agent (GET /healthz/ready, then
//    POST /quitquitquit), and stops on quit.
let quit: { method: string; path: string } | undefined;
let readyChecks = 0;
const sidecar = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/healthz/ready") {
      readyChecks++;
      return new Response("");
    }
    if (path !== "/quitquitquit") return new Response("", { status: 404 });
    if (request.method !== "POST") return new Response("", { status: 405 });
    quit = { method: request.method, path };
    setTimeout(() => sidecar.shutdown(), 0);
    return new Response("OK");
  },
);
const base = `http://127.0.0.1:${sidecar.addr.port}`;
const quitUrl = `${base}/quitquitquit`;
say(`stand-in sidecar listening at ${quitUrl}`);

// 2. The job, run by the wrapper exactly as `deno task wrapper` does.
const wrapperArgs = WRAPPER_ARGS;
const job = [
  Deno.execPath(),
  "eval",
  `console.log("job: working…"); Deno.exit(${JOB_EXIT_CODE})`,
];
say(
  `running: wrapper --plugin istio-proxy -- <a job that exits ${JOB_EXIT_CODE}>`,
);
const { code } = await new Deno.Command(Deno.execPath(), {
  args: [...wrapperArgs, "--plugin", "istio-proxy", "--", ...job],
  cwd: new URL("..", import.meta.url),
  env: {
    WRAPPER_PLUGIN_ISTIO_PROXY_READY_URL: `${base}/healthz/ready`,
    WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL: quitUrl,
  },
  stdout: "inherit",
  stderr: "inherit",
}).output();
const quitSeen = quit !== undefined;
if (quitSeen) await sidecar.finished;
else await sidecar.shutdown();

// 3. What happened.
say(
  `sidecar answered ${readyChecks} readiness check(s) before the job started`,
);
say(
  quitSeen
    ? `sidecar received ${quit!.method} ${quit!.path} and stopped`
    : "sidecar received no quit request",
);
say(`wrapper exited ${code} (the job's exit code is ${JOB_EXIT_CODE})`);
const ok = readyChecks > 0 && quitSeen && code === JOB_EXIT_CODE;
say(
  ok
    ? "OK: the sidecar was told to quit and the exit code came through"
    : "FAILED",
);
Deno.exit(ok ? 0 : 1);
