/**
 * `istio-proxy`: waits until Istio's sidecar is ready before the command,
 * and asks pilot-agent to quit after it (which stops Envoy too), so the Job's
 * pod can complete.
 *
 * Options (`WRAPPER_PLUGIN_ISTIO_PROXY_<OPTION>`):
 * - `READY_URL`: `http://localhost:15021/healthz/ready` (200 when ready, else 503)
 * - `QUIT_URL`: `http://localhost:15020/quitquitquit` (POST from loopback; 200)
 * @module
 */
import type { Plugin } from "../mod.ts";

export default {
  name: "istio-proxy",
  options: {
    readyUrl: {
      description: "readiness endpoint, polled until the sidecar is ready",
      default: "http://localhost:15021/healthz/ready",
      loopback: true,
    },
    quitUrl: {
      description: "quit endpoint, sent a POST after the command",
      default: "http://localhost:15020/quitquitquit",
      loopback: true,
    },
  },
  async beforeStart(ctx) {
    await ctx.waitReady(
      ctx.options.readyUrl!,
    );
  },
  async afterExit(ctx) {
    await ctx.quit(
      ctx.options.quitUrl!,
      {
        hints: {
          403: "pilot-agent only accepts quit requests from loopback",
          404:
            "no /quitquitquit here: is this pilot-agent's status port (15020)?",
        },
      },
    );
  },
} satisfies Plugin;
