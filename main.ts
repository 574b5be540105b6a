/**
 * The `wrapper` command. Only signal capture is imported before it runs:
 * everything else loads after the listeners are up, so the start-up window
 * in which a signal is lost (as PID 1) or fatal is Deno's own floor plus the
 * listeners, not the time to load the whole program.
 * @module
 */
import { captureSignals } from "./src/signals.ts";
import { PLUGIN_MODE_ARG } from "./src/plugin_mode_arg.ts";
import { EXIT_NOT_STARTED } from "./src/exit_codes.ts";

if (import.meta.main && Deno.args[0] === PLUGIN_MODE_ARG) {
  // A compiled wrapper re-executed as a plugin process.
  const { pluginMode } = await import("./src/plugin_mode.ts");
  await pluginMode();
} else if (import.meta.main) {
  const signals = captureSignals(); // first: no signal may be lost or fatal
  const { cli } = await import("./src/cli.ts").catch((error) => {
    // A partial copy of the wrapper: the job is not started (125).
    const why = String((error as Error)?.message ?? error).split("\n")[0];
    const line = `wrapper: cannot load its own code: ${why}\n`;
    Deno.stderr.writeSync(new TextEncoder().encode(line));
    Deno.exit(EXIT_NOT_STARTED);
  });
  await cli(signals);
}
