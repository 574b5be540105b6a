/**
 * `istio-proxy`: after the command ends, asks Istio's pilot-agent to quit
 * (`POST /quitquitquit` on its status port 15020), which stops Envoy too, so
 * the Job's pod can complete. No sidecar listening is normal (mesh disabled,
 * running locally): one info line, not an error.
 *
 * Options: `WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL`
 * (default `http://localhost:15020/quitquitquit`).
 * @module
 */
import type { AfterExitContext, Plugin } from "../mod.ts";

/** Options of the istio-proxy plugin. */
export interface IstioProxyOptions {
  /** pilot-agent's quit endpoint. @default "http://localhost:15020/quitquitquit" */
  quitUrl?: string;
}

const DEFAULT_QUIT_URL = "http://localhost:15020/quitquitquit";

export default {
  name: "istio-proxy",
  async afterExit(ctx: AfterExitContext) {
    const { quitUrl = DEFAULT_QUIT_URL } = ctx.options as IstioProxyOptions;
    let response: Response;
    try {
      response = await fetch(new URL(quitUrl), {
        method: "POST",
        signal: ctx.signal,
      });
    } catch (error) {
      if (/connection refused/i.test(String((error as Error).cause ?? error))) {
        ctx.log.info("No sidecar listening: nothing to stop", { url: quitUrl });
        return;
      }
      throw error;
    }
    const body = (await response.text()).trim().slice(0, 200);
    if (!response.ok) {
      throw new Error(
        `pilot-agent refused to quit: HTTP ${response.status} ${body}`.trim(),
      );
    }
    ctx.log.info("Asked the sidecar to quit", {
      url: quitUrl,
      status: response.status,
      exitCode: ctx.exit.code,
    });
  },
} satisfies Plugin;
