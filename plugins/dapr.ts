/**
 * `dapr`: waits for the Dapr sidecar's health endpoint, and after the command
 * asks it to shut down.
 *
 * Options (`WRAPPER_PLUGIN_DAPR_<OPTION>`):
 * - `READY_URL`: `http://localhost:3500/v1.0/healthz` (204 when healthy, 500 not)
 * - `QUIT_URL`: `http://localhost:3500/v1.0/shutdown` (POST; 204, then daprd
 *   shuts down asynchronously)
 * - `API_TOKEN`: sent as the `dapr-api-token` header, for a sidecar with API
 *   token authentication (`DAPR_API_TOKEN`) on. Default: none.
 * @module
 */
import type { Plugin } from "../mod.ts";

function headers(token: string | undefined): Record<string, string> {
  return token === undefined || token === "" ? {} : { "dapr-api-token": token };
}

export default {
  name: "dapr",
  options: {
    readyUrl: {
      description: "readiness endpoint, polled until the sidecar is ready",
      default: "http://localhost:3500/v1.0/healthz",
      loopback: true,
    },
    quitUrl: {
      description: "quit endpoint, sent a POST after the command",
      default: "http://localhost:3500/v1.0/shutdown",
      loopback: true,
    },
    apiToken: {
      description:
        "sent as the dapr-api-token header (API token authentication)",
    },
  },
  async beforeStart(ctx) {
    await ctx.waitReady(
      ctx.options.readyUrl!,
      { expect: [200, 204], headers: headers(ctx.options.apiToken) },
    );
  },
  async afterExit(ctx) {
    await ctx.quit(
      ctx.options.quitUrl!,
      {
        expect: [200, 202, 204],
        headers: headers(ctx.options.apiToken),
        hints: {
          401:
            "the sidecar wants an API token: set WRAPPER_PLUGIN_DAPR_API_TOKEN",
        },
      },
    );
  },
} satisfies Plugin;
