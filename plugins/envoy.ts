/**
 * `envoy`: a bare Envoy (no pilot-agent): waits for its admin `/ready`, and
 * after the command asks it to quit through the admin `/quitquitquit`.
 *
 * Options (`WRAPPER_PLUGIN_ENVOY_<OPTION>`):
 * - `READY_URL`: `http://localhost:15000/ready` (200 "LIVE" when ready, else 503)
 * - `QUIT_URL`: `http://localhost:15000/quitquitquit` (POST only; 200)
 *
 * Envoy's admin port is 15000 in Istio pods; 9901 and 19000 are common elsewhere.
 * @module
 */
import type { Plugin } from "../mod.ts";

export default {
  name: "envoy",
  options: {
    readyUrl: {
      description: "readiness endpoint, polled until the sidecar is ready",
      default: "http://localhost:15000/ready",
      loopback: true,
    },
    quitUrl: {
      description: "quit endpoint, sent a POST after the command",
      default: "http://localhost:15000/quitquitquit",
      loopback: true,
    },
  },
  async beforeStart(ctx) {
    await ctx.waitReady(ctx.options.readyUrl!);
  },
  async afterExit(ctx) {
    await ctx.quit(
      ctx.options.quitUrl!,
      {
        hints: { 405: "Envoy's admin /quitquitquit takes POST only" },
      },
    );
  },
} satisfies Plugin;
