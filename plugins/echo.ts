/**
 * `echo`: logs that each hook ran, with the command and its exit code.
 * A lifecycle check: `WRAPPER_PLUGIN_PATH=echo wrapper my-job`.
 * @module
 */
import type { Plugin } from "../mod.ts";

export default {
  name: "echo",
  options: {},
  beforeStart(ctx) {
    ctx.log.info("Command starting", { command: ctx.command.join(" ") });
  },
  afterExit(ctx) {
    ctx.log.info("Command ended", {
      code: ctx.exit.code,
      signal: ctx.exit.signal,
      durationMs: ctx.durationMs,
    });
  },
} satisfies Plugin;
