/**
 * The lifecycle: load plugins, beforeStart hooks, run the command,
 * afterExit hooks, and return the command's exit code.
 *
 * The invariant: once a plugin is loaded, every way out runs its afterExit
 * hook (which tells its sidecar to quit) before the wrapper exits with its
 * documented code: a usage error, a plugin that will not load, a stop signal
 * in any phase, an internal error. Built-ins load first, in-process, so their
 * quits never depend on a file or URL plugin loading.
 * @module
 */
import type { Config } from "./config.ts";
import { EXIT_NOT_STARTED, EXIT_SOFTWARE, EXIT_USAGE } from "./exit_codes.ts";
import { type Logger, writeStderrLine } from "./log.ts";
import type { PluginPlan } from "./plan.ts";
import { PluginSet } from "./plugin_set.ts";
import { type ChildResult, runChild, stoppedBySignal } from "./run.ts";
import type { SignalRelay } from "./signals.ts";
import { after } from "./plugin_runtime.ts";
import { prepareSpawn } from "./spawn.ts";

/** Options of `runWrapper`. */
export interface RunWrapperOptions {
  /** The environment, read once (for plugin options). */
  env: Readonly<Record<string, string>>;
  /** The relay holding the process's signal listeners. */
  signals: SignalRelay;
  /** The wrapper's logger. */
  log: Logger;
  /**
   * Do not start the command: exit with this code (a usage error, already
   * reported) after telling every loadable plugin's sidecar to quit.
   */
  refuse?: number;
  /** The job's environment, when it must be given explicitly. */
  childEnv?: Readonly<Record<string, string>>;
}

/** Run the whole lifecycle; resolves to the exit code the wrapper must use. */
export async function runWrapper(
  config: Config,
  plan: PluginPlan,
  options: RunWrapperOptions,
): Promise<number> {
  const { env, signals, log } = options;
  signals.onSignal = (signal, forwarded) =>
    log.debug(forwarded ? "Forwarded signal" : "Received signal", { signal });
  if (!config.hooks) {
    if (options.refuse !== undefined) return options.refuse;
    log.debug("Hooks disabled (WRAPPER_HOOKS=off): running the command alone");
    return (await job(config, options)).status.code;
  }
  const plugins = new PluginSet(config, plan, env, log);
  let result: ChildResult | undefined;
  try {
    result = await upToTheJob(config, plan, plugins, options);
    await afterExit(config, plugins, result, log);
    return result.status.code;
  } catch (error) {
    // A bug of the wrapper's own: the sidecars are still told to quit, and a
    // job that ran keeps its exit code.
    log.error("Internal error", { error: (error as Error)?.stack ?? error });
    if (result === undefined) {
      result = notStarted(EXIT_SOFTWARE, null);
      await afterExit(config, plugins, result, log).catch(() => {});
    }
    return result.started ? result.status.code : EXIT_SOFTWARE;
  } finally {
    plugins.close();
  }
}

/** Load the plugins, run beforeStart hooks, then the command (or not). */
async function upToTheJob(
  config: Config,
  plan: PluginPlan,
  plugins: PluginSet,
  options: RunWrapperOptions,
): Promise<ChildResult> {
  const { signals, log } = options;
  for (const warning of plan.warnings) log.warn(warning);
  for (const sidecar of plan.detected.values()) {
    log.debug("The pod's metadata shows a sidecar", { ...sidecar });
  }
  // 1. Built-ins: in-process and quick; nothing interrupts them.
  const builtins = plan.plugins.filter((p) => p.kind === "builtin");
  let failure = await plugins.load(builtins);
  // 2. Files and URLs: a stop signal ends their fetch or load at once.
  const others = plan.plugins.filter((p) => p.kind !== "builtin");
  failure = (await plugins.load(others, signals.stopping)) ?? failure;
  // (each failure is logged where it happened)
  if (options.refuse !== undefined) return notStarted(options.refuse, null);
  if (signals.stopSignal !== undefined) return stopped(signals.stopSignal, log);
  if (failure !== undefined) return notStarted(EXIT_NOT_STARTED, null);
  const mistakes = plugins.optionProblems();
  // Usage errors: one line each, whatever the log level.
  for (const mistake of mistakes) writeStderrLine(`wrapper: ${mistake}`);
  if (mistakes.length > 0) return notStarted(EXIT_USAGE, null);
  plugins.reportUnusedVariables();
  // 3. beforeStart: a stop signal ends the readiness waits at once.
  const refused = await beforeStart(config, plugins, options);
  if (refused !== undefined) return refused;
  // 4. The job. From here on a stop signal is forwarded to it, and once it
  // has ended nothing interrupts the quits, whose contexts are worked out
  // while it runs (20 ms in, so that an instant job pays nothing).
  const cancelContexts = after(20, () => plugins.prepare("afterExit"));
  try {
    return await job(config, options);
  } finally {
    cancelContexts();
  }
}

/** Run the beforeStart hooks; a result when the job must not start. */
async function beforeStart(
  config: Config,
  plugins: PluginSet,
  { signals, log }: RunWrapperOptions,
): Promise<ChildResult | undefined> {
  const interrupt = () => plugins.close(`interrupted by ${signals.stopSignal}`);
  signals.stopping.addEventListener("abort", interrupt, { once: true });
  const cancelPrepare = after(0, prepareSpawn); // while the hooks wait
  const ready = await plugins.run("beforeStart").finally(() =>
    signals.stopping.removeEventListener("abort", interrupt)
  );
  cancelPrepare(); // the job starts now: it loads what it needs itself
  if (signals.stopSignal !== undefined) return stopped(signals.stopSignal, log);
  if (!ready.includes(false)) return undefined;
  if (config.readyPolicy === "fail") {
    log.error(
      "Not starting the command: a beforeStart hook failed (WRAPPER_READY_POLICY=fail)",
    );
    return notStarted(EXIT_NOT_STARTED, null);
  }
  log.warn(
    "Starting the command anyway: a beforeStart hook failed (WRAPPER_READY_POLICY=start)",
  );
  return undefined;
}

function job(config: Config, options: RunWrapperOptions) {
  const { signals, log, childEnv } = options;
  return runChild(config.command, {
    signals,
    log,
    env: childEnv,
    signalGroup: config.signalTarget === "group" ||
      (config.signalTarget === "auto" && Deno.stdin.isTerminal()),
  });
}

/** 5. afterExit hooks: they tell the sidecars to quit. */
async function afterExit(
  config: Config,
  plugins: PluginSet,
  result: ChildResult,
  log: Logger,
): Promise<void> {
  const { status, durationMs, started } = result;
  log.debug("Command ended", { ...status, durationMs, started });
  if (!config.quitOnFailure && !status.success) {
    log.info(
      "Command failed: skipping afterExit hooks (WRAPPER_QUIT_ON_FAILURE=false)",
      { code: status.code },
    );
    return;
  }
  await plugins.run("afterExit", { exit: status, durationMs, started });
}

function stopped(signal: Deno.Signal, log: Logger): ChildResult {
  const result = notStarted(stoppedBySignal(signal).code, signal);
  log.info("Not starting the command: stopped by signal", {
    signal,
    code: result.status.code,
  });
  return result;
}

function notStarted(code: number, signal: Deno.Signal | null): ChildResult {
  return {
    started: false,
    status: { code, signal, success: code === 0 },
    durationMs: 0,
  };
}
