/**
 * `vault-agent`: after the command, asks the Vault Agent sidecar that the
 * Vault agent injector added to quit, through its listener's
 * `/agent/v1/quit` (POST only; 404 unless the quit endpoint is enabled).
 * For Jobs, Vault also offers `vault.hashicorp.com/agent-pre-populate-only:
 * "true"`: an init container only, no sidecar to stop.
 *
 * Options (`WRAPPER_PLUGIN_VAULT_AGENT_<OPTION>`):
 * - `QUIT_URL`: `http://127.0.0.1:8200/agent/v1/quit` (the injector's
 *   listener, port `vault.hashicorp.com/agent-cache-listener-port`)
 * @module
 */
import type { Plugin } from "../mod.ts";

export default {
  name: "vault-agent",
  options: {
    quitUrl: {
      description: "quit endpoint, sent a POST after the command",
      default: "http://127.0.0.1:8200/agent/v1/quit",
      loopback: true,
    },
  },
  async afterExit(ctx) {
    await ctx.quit(
      ctx.options.quitUrl!,
      {
        hints: {
          404:
            'the quit endpoint is off: annotate the pod with vault.hashicorp.com/agent-enable-quit: "true"',
          405: "Vault Agent's /agent/v1/quit takes POST only",
        },
      },
    );
  },
} satisfies Plugin;
