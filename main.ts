/**
 * The `wrapper` command: run a command invisibly, then run hook plugins.
 * The only module that reads `Deno.args`, configures logging and exits.
 * @module
 */
import {
  captureSignals,
  guardInspectorPort,
  type SignalRelay,
} from "./src/signals.ts";
import { parseConfig } from "./src/config.ts";
import { UsageError } from "./src/errors.ts";
import { EXIT_SOFTWARE } from "./src/exit_codes.ts";
import { helpText, VERSION } from "./src/help.ts";
import {
  flushLogs,
  preloadLogging,
  setupLogging,
  wrapperLogger,
  writeStderrLine,
} from "./src/log.ts";
import { runWrapper } from "./src/wrapper.ts";

/** Run the wrapper with these arguments and environment; returns the exit code. */
export async function main(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  signals: SignalRelay,
): Promise<number> {
  try {
    const config = parseConfig(args, env); // 1. config, once
    if (config.action === "help") {
      await Deno.stdout.write(new TextEncoder().encode(helpText()));
      return 0;
    }
    if (config.action === "version") {
      await Deno.stdout.write(new TextEncoder().encode(`wrapper ${VERSION}\n`));
      return 0;
    }
    setupLogging(config.logLevel, config.logFormat); // 2. stderr logger
    if (config.hooks && config.plugins.length > 0) preloadLogging();
    const code = await runWrapper(config, {
      env,
      signals,
      log: wrapperLogger(),
    }); // 3-6.
    await flushLogs().catch((error) =>
      writeStderrLine(`wrapper: cannot write log lines: ${error}`)
    );
    return code;
  } catch (error) {
    await flushLogs().catch(() => {});
    if (error instanceof UsageError) {
      writeStderrLine(`wrapper: ${error.message} (see "wrapper --help")`);
      return error.exitCode;
    }
    writeStderrLine(
      `wrapper: internal error: ${(error as Error)?.stack ?? error}`,
    );
    return EXIT_SOFTWARE;
  }
}

if (import.meta.main) {
  const signals = captureSignals(); // first: no signal may be lost or fatal
  guardInspectorPort(); // before Deno's 500 ms SIGUSR1 inspector grace ends
  Deno.exit(await main(Deno.args, Deno.env.toObject(), signals));
}
