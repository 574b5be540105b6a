/**
 * The `wrapper` command once its signals are captured: configuration,
 * logging, the job and its plugins. Loaded by `main.ts` after its listeners
 * are up; the only module that reads `Deno.args`, configures logging and
 * exits.
 * @module
 */
import {
  guardInspectorPort,
  keepIgnored,
  type SignalRelay,
} from "./signals.ts";
import {
  type Config,
  ENV_VARS,
  inspectorGuardWanted,
  readConfig,
} from "./config.ts";
import { firstLine, UsageError } from "./errors.ts";
import { EXIT_NOT_STARTED, EXIT_SOFTWARE, EXIT_USAGE } from "./exit_codes.ts";
import {
  flushLogs,
  preloadLogging,
  setupLogging,
  wrapperLogger,
  writeStderrLine,
} from "./log.ts";
import { planPlugins } from "./plan.ts";
import { type PodInfo, readPodInfo } from "./podinfo.ts";
import { keepLoopbackOffProxies } from "./proxy.ts";
import { runWrapper } from "./wrapper.ts";
import { stoppedBySignal } from "./run.ts";
import { startReaper } from "./reaper.ts";

/** Run the wrapper with these arguments and environment; returns the exit code. */
export async function main(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  signals: SignalRelay,
): Promise<number> {
  try {
    const { config, problems, warnings } = readConfig(args, env); // 1. config
    if (config.action !== "run") {
      // No job: a mistake here is a person's, with no sidecar to stop.
      if (problems.length > 0) return usageError(problems[0]!);
      return await noJob(config, env, signals);
    }
    setupLogging(config.logLevel, config.logFormat); // 2. stderr logger
    for (const warning of warnings) wrapperLogger().warn(warning);
    const reaping = startReaper(); // as PID 1: orphans' zombies
    keepIgnored(signals); // the reaper's listener may have been Deno's first
    if (reaping !== undefined && Deno.pid === 1) {
      wrapperLogger().warn("Orphaned processes will not be reaped", {
        reason: reaping,
      });
    }
    // Even a usage error goes on: the sidecars it can know of are told to quit.
    const pod = config.hooks ? await podInfo(config, problems) : undefined;
    const plan = planPlugins(config.plugins, pod);
    problems.push(...plan.problems);
    if (problems.length > 0) usageError(problems[0]!);
    if (config.hooks && plan.plugins.length > 0) preloadLogging();
    const proxied = keepLoopbackOffProxies(env);
    const code = await runWrapper(config, plan, {
      env,
      signals,
      log: wrapperLogger(),
      ...(problems.length > 0 ? { refuse: EXIT_USAGE } : {}),
      ...(proxied ? { childEnv: env } : {}),
    }); // 3-6.
    await flushLogs().catch((error) =>
      writeStderrLine(`wrapper: cannot write log lines: ${error}`)
    );
    return code;
  } catch (error) {
    await flushLogs().catch(() => {});
    writeStderrLine(
      `wrapper: internal error: ${(error as Error)?.stack ?? error}`,
    );
    return EXIT_SOFTWARE;
  }
}

/**
 * `--install <folder>`: copy the wrapper there (an init container's job).
 * A bad folder is a usage error (2); a copy that fails (no space, not
 * writable) is 125: the job cannot start from that folder; a stop signal
 * ends it with 128 + n, nothing installed.
 */
async function installInto(
  config: Config,
  signals: SignalRelay,
): Promise<number> {
  setupLogging(config.logLevel, config.logFormat);
  const { install, installSource } = await import("./install.ts");
  try {
    const { wrapper, bytes } = await install(
      config.installDir,
      installSource(),
      signals.stopping,
    );
    wrapperLogger().info("Installed", { wrapper, bytes });
    await flushLogs();
    return 0;
  } catch (error) {
    if (error instanceof UsageError) return usageError(error);
    const stop = signals.stopSignal;
    const why = stop === undefined ? firstLine(error) : `stopped by ${stop}`;
    writeStderrLine(
      `wrapper: cannot install into ${config.installDir}: ${why}`,
    );
    return stop === undefined ? EXIT_NOT_STARTED : stoppedBySignal(stop).code;
  }
}

/** `--help`, `--version`, `--print-types`, `--check-plugin`: no job runs. */
async function noJob(
  config: Config,
  env: Readonly<Record<string, string>>,
  signals: SignalRelay,
): Promise<number> {
  if (config.action === "types") {
    const { default: types } = await import("../mod.ts", {
      with: { type: "text" },
    });
    await writeOut(types);
    return 0;
  }
  if (config.action === "install") return await installInto(config, signals);
  if (config.action === "check") {
    setupLogging(config.logLevel, config.logFormat);
    const { checkPlugins } = await import("./check_plugin.ts");
    const plan = planPlugins(config.plugins, undefined);
    if (plan.problems.length > 0) return usageError(plan.problems[0]!);
    const { text, mistakes, code } = await checkPlugins(
      config,
      plan,
      env,
      wrapperLogger(),
      signals.stopping,
    );
    for (const mistake of mistakes) writeStderrLine(`wrapper: ${mistake}`);
    await writeOut(text);
    await flushLogs();
    const stop = signals.stopSignal;
    return stop === undefined ? code : stoppedBySignal(stop).code;
  }
  const { builtinHelp, helpText, VERSION } = await import("./help.ts");
  await writeOut(
    config.action === "help"
      ? helpText(await builtinHelp())
      : `wrapper ${VERSION}\n`,
  );
  return 0;
}

/**
 * Write `text` to stdout. A reader that has gone (`wrapper --help | head -1`)
 * is not the wrapper's error: the exit code stays 0.
 */
async function writeOut(text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  try {
    for (let n = 0; n < bytes.length;) {
      n += await Deno.stdout.write(bytes.subarray(n));
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
  }
}

function usageError(problem: UsageError): number {
  writeStderrLine(`wrapper: ${problem.message} (see "wrapper --help")`);
  return EXIT_USAGE;
}

/** The pod's metadata; a folder that cannot be read is a usage error. */
async function podInfo(
  config: Config,
  problems: UsageError[],
): Promise<PodInfo | undefined> {
  try {
    const pod = await readPodInfo(config.podinfoDir);
    if (pod === undefined && config.podinfoDirSet) {
      throw new Error(`no such folder "${config.podinfoDir}"`);
    }
    return pod;
  } catch (error) {
    problems.push(
      new UsageError(`Cannot read pod metadata: ${firstLine(error)}`),
    );
    return undefined;
  }
}

/** Run the wrapper to its exit, with `signals` already captured. */
export async function cli(signals: SignalRelay): Promise<never> {
  // Before Deno's 500 ms SIGUSR1 inspector grace ends; off only when asked.
  if (inspectorGuardWanted(Deno.env.get(ENV_VARS.inspectorGuard))) {
    guardInspectorPort();
  }
  // An error thrown in a callback, or a promise nobody awaits, must not end
  // the wrapper (exit 1, no quit): every wait it could block is bounded.
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    writeStderrLine(`wrapper: internal error, ignored: ${event.message}`);
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    writeStderrLine(`wrapper: internal error, ignored: ${event.reason}`);
  });
  Deno.exit(await main(Deno.args, Deno.env.toObject(), signals));
}
