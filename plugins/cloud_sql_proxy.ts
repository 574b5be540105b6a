/**
 * `cloud-sql-proxy`: waits for the Cloud SQL Auth Proxy (v2) to be ready,
 * and after the command asks it to exit through its admin `/quitquitquit`.
 *
 * Options (`WRAPPER_PLUGIN_CLOUD_SQL_PROXY_<OPTION>`):
 * - `READY_URL`: `http://localhost:9090/readiness` (needs the proxy's
 *   `--health-check`; 200 when ready, else 503). `off` skips the wait.
 * - `QUIT_URL`: `http://localhost:9091/quitquitquit` (the admin server, on
 *   `--admin-port`, runs only with the proxy's `--quitquitquit`; POST or GET;
 *   200, then the proxy exits 0 after `--max-sigterm-delay`)
 * @module
 */
import type { Plugin } from "../mod.ts";

export default {
  name: "cloud-sql-proxy",
  options: {
    readyUrl: {
      description: "readiness endpoint, polled until the sidecar is ready",
      default: "http://localhost:9090/readiness",
      loopback: true,
    },
    quitUrl: {
      description: "quit endpoint, sent a POST after the command",
      default: "http://localhost:9091/quitquitquit",
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
          404: "start the proxy with --quitquitquit to enable this endpoint",
        },
        absentHint:
          "the admin server (port 9091) runs only when the proxy has --quitquitquit",
      },
    );
  },
} satisfies Plugin;
