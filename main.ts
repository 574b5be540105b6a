/**
 * The `wrapper` command. Only signal capture is imported before it runs:
 * everything else loads after the listeners are up, so the start-up window
 * in which a signal is lost (as PID 1) or fatal is Deno's own floor plus the
 * listeners, not the time to load the whole program.
 * @module
 */
import { captureSignals } from "./src/signals.ts";
import { PLUGIN_MODE_ARG } from "./src/plugin_mode_arg.ts";

if (import.meta.main && Deno.args[0] === PLUGIN_MODE_ARG) {
  // A compiled wrapper re-executed as a plugin process.
  const { pluginMode } = await import("./src/plugin_mode.ts");
  await pluginMode();
} else if (import.meta.main) {
  const signals = captureSignals(); // first: no signal may be lost or fatal
  const { cli } = await import("./src/cli.ts");
  await cli(signals);
}
