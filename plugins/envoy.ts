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
  async beforeStart(ctx) {
    await ctx.waitReady(ctx.options.readyUrl ?? "http://localhost:15000/ready");
  },
  async afterExit(ctx) {
    await ctx.quit(
      ctx.options.quitUrl ?? "http://localhost:15000/quitquitquit",
      {
        hints: { 405: "Envoy's admin /quitquitquit takes POST only" },
      },
    );
  },
} satisfies Plugin;
