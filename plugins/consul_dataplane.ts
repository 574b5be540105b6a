/**
 * `consul-dataplane`: after the command, asks Consul dataplane to shut down
 * gracefully: it answers 200 at once, drains listeners when
 * `-shutdown-drain-listeners` is set, waits its shutdown grace period
 * (0 unless set), then stops Envoy and exits. consul-k8s runs it with
 * `-graceful-port=20600`.
 *
 * Options (`WRAPPER_PLUGIN_CONSUL_DATAPLANE_<OPTION>`):
 * - `QUIT_URL`: `http://127.0.0.1:20600/graceful_shutdown` (the dataplane's
 *   `-graceful-port`; POST; 200)
 * - `VERIFY`: `true`; `false` skips checking that its port closes (for a long
 *   `-shutdown-grace-period-seconds`)
 * @module
 */
import type { Plugin } from "../mod.ts";

export default {
  name: "consul-dataplane",
  options: {
    quitUrl: {
      description: "quit endpoint, sent a POST after the command",
      default: "http://127.0.0.1:20600/graceful_shutdown",
      loopback: true,
    },
    verify: {
      description: "false: do not wait for the port to close after the quit",
      default: "true",
      switch: true,
    },
  },
  async afterExit(ctx) {
    await ctx.quit(
      ctx.options.quitUrl!,
      { verify: ctx.options.verify !== "false" },
    );
  },
} satisfies Plugin;
