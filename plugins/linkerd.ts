/**
 * `linkerd`: waits for the Linkerd proxy's `/ready`, and after the command
 * asks it to shut down through its admin `/shutdown` endpoint.
 *
 * Options (`WRAPPER_PLUGIN_LINKERD_<OPTION>`):
 * - `READY_URL`: `http://localhost:4191/ready` (200 when ready, else 503)
 * - `QUIT_URL`: `http://localhost:4191/shutdown` (POST from loopback; 200 "shutdown")
 *
 * The endpoint is off by default (since edge-24.6 / 2.16): the proxy needs
 * `LINKERD2_PROXY_SHUTDOWN_ENDPOINT_ENABLED=true`, which the pod annotation
 * `config.linkerd.io/proxy-admin-shutdown: enabled` (or the Helm value
 * `proxy.enableShutdownEndpoint`) sets. Then 404 "shutdown endpoint is not
 * enabled" becomes 200 "shutdown".
 * @module
 */
import type { Plugin } from "../mod.ts";

export default {
  name: "linkerd",
  options: {
    readyUrl: {
      description: "readiness endpoint, polled until the sidecar is ready",
      default: "http://localhost:4191/ready",
      loopback: true,
    },
    quitUrl: {
      description: "quit endpoint, sent a POST after the command",
      default: "http://localhost:4191/shutdown",
      loopback: true,
    },
  },
  async beforeStart(ctx) {
    await ctx.waitReady(ctx.options.readyUrl!);
  },
  async afterExit(ctx) {
    await ctx.quit(ctx.options.quitUrl!, {
      hints: {
        403: "the Linkerd proxy only accepts /shutdown from loopback",
        404:
          "the proxy's shutdown endpoint is disabled: annotate the pod with config.linkerd.io/proxy-admin-shutdown: enabled (sets LINKERD2_PROXY_SHUTDOWN_ENDPOINT_ENABLED=true)",
        405: "the Linkerd proxy's /shutdown takes POST only",
      },
    });
  },
} satisfies Plugin;
