/**
 * The lifecycle: load plugins, beforeStart hooks, run the command,
 * afterExit hooks, and return the command's exit code.
 * @module
 */
import type { HookName } from "../mod.ts";
import type { HookContextData } from "./_protocol.ts";
import { type Config, pluginOptions, unusedEnvVars } from "./config.ts";
import { PluginError } from "./errors.ts";
import { EXIT_NOT_STARTED } from "./exit_codes.ts";
import type { Logger } from "./log.ts";
import { type LoadedPlugin, loadPlugin } from "./plugin_host.ts";
import { readPluginSource, resolveSpec } from "./plugin_source.ts";
import { type ChildResult, runChild, stoppedBySignal } from "./run.ts";
import type { SignalRelay } from "./signals.ts";

/** Options of `runWrapper`. */
export interface RunWrapperOptions {
  /** The environment, read once (for plugin options). */
  env: Readonly<Record<string, string>>;
  /** The relay holding the process's signal listeners. */
  signals: SignalRelay;
  /** The wrapper's logger. */
  log: Logger;
}

/** Run the whole lifecycle; resolves to the exit code the wrapper must use. */
export async function runWrapper(
  config: Config,
  options: RunWrapperOptions,
): Promise<number> {
  const { env, signals, log } = options;
  signals.onSignal = (signal, forwarded) =>
    log.debug(forwarded ? "Forwarded signal" : "Received signal", { signal });

  if (!config.hooks) {
    log.debug("Hooks disabled (WRAPPER_HOOKS=off): running the command alone");
    return (await runChild(config.command, { signals, log })).status.code;
  }
  let plugins: LoadedPlugin[];
  try {
    plugins = await loadPlugins(config, log);
  } catch (error) {
    if (!(error instanceof PluginError)) throw error;
    log.error(error.message);
    return error.exitCode;
  }
  try {
    for (const name of unusedEnvVars(env, plugins.map((p) => p.name))) {
      log.warn("Ignoring variable: no such setting or loaded plugin", { name });
    }
    const hookContext = (hook: HookName): HookContextData => ({
      hook,
      command: config.command,
      options: {},
      timeoutMs: hook === "beforeStart"
        ? config.readyTimeoutMs
        : config.hookTimeoutMs,
      sidecar: {
        absentAfterMs: config.absentAfterMs,
        verifyTimeoutMs: config.verifyTimeoutMs,
        native: config.nativeSidecars,
      },
    });

    // Whatever happens from here, afterExit hooks run: a sidecar left running
    // would keep the pod from completing.
    let result: ChildResult;
    // A stop signal (pod deletion) does not wait for a readiness wait to end:
    // the busy Workers are ended, and afterExit gets fresh ones.
    const before = await Promise.race([
      runHooks(plugins, hookContext("beforeStart"), env, log),
      signals.stopped.then((signal) => {
        for (const plugin of plugins) plugin.close(`interrupted by ${signal}`);
        return [];
      }),
    ]);
    const notReady = before.some((ok) => !ok);
    if (notReady && config.readyPolicy === "fail") {
      log.error(
        "Not starting the command: a beforeStart hook failed (WRAPPER_READY_POLICY=fail)",
      );
      result = notStarted(EXIT_NOT_STARTED, null);
    } else if (signals.stopSignal !== undefined) {
      result = notStarted(
        stoppedBySignal(signals.stopSignal).code,
        signals.stopSignal,
      );
      log.info("Not starting the command: stopped by signal", {
        signal: signals.stopSignal,
        code: result.status.code,
      });
    } else {
      if (notReady) {
        log.warn(
          "Starting the command anyway: a beforeStart hook failed (WRAPPER_READY_POLICY=start)",
        );
      }
      result = await runChild(config.command, { signals, log });
    }
    const { status, durationMs, started } = result;
    log.debug("Command ended", { ...status, durationMs, started });
    if (!config.quitOnFailure && !status.success) {
      log.info(
        "Command failed: skipping afterExit hooks (WRAPPER_QUIT_ON_FAILURE=false)",
        { code: status.code },
      );
      return status.code;
    }
    await runHooks(
      plugins,
      { ...hookContext("afterExit"), exit: status, durationMs, started },
      env,
      log,
    );
    return status.code;
  } finally {
    for (const plugin of plugins) plugin.close();
  }
}

function notStarted(code: number, signal: Deno.Signal | null): ChildResult {
  return {
    started: false,
    status: { code, signal, success: false },
    durationMs: 0,
  };
}

async function loadPlugins(
  config: Config,
  log: Logger,
): Promise<LoadedPlugin[]> {
  const timeoutMs = config.hookTimeoutMs;
  const locations = config.plugins.map((spec) => resolveSpec(spec));
  const loadMs = new Map<LoadedPlugin, number>();
  const settled = await Promise.allSettled(locations.map(async (location) => {
    const started = performance.now();
    const source = await readPluginSource(location, {
      timeoutMs: config.fetchTimeoutMs,
      log,
    });
    const plugin = await loadPlugin(source, { timeoutMs });
    loadMs.set(plugin, Math.round((performance.now() - started) * 10) / 10);
    return plugin;
  }));
  const loaded = settled.flatMap((s) =>
    s.status === "fulfilled" ? [s.value] : []
  );
  const failure = settled.find((s) => s.status === "rejected");
  const names = new Map<string, string>();
  let duplicate: PluginError | undefined;
  for (const plugin of loaded) {
    const other = names.get(plugin.name);
    if (other !== undefined) {
      duplicate ??= new PluginError(
        plugin.spec,
        `another plugin is already named "${plugin.name}" ("${other}")`,
      );
    }
    names.set(plugin.name, plugin.spec);
  }
  if (failure !== undefined || duplicate !== undefined) {
    for (const plugin of loaded) plugin.close();
    throw failure?.reason ?? duplicate;
  }
  for (const plugin of loaded) {
    log.debug("Loaded plugin", {
      plugin: plugin.name,
      spec: plugin.spec,
      hooks: plugin.hooks.join(","),
      isolation: plugin.isolation,
      loadMs: loadMs.get(plugin),
    });
  }
  return loaded;
}

/** Run `context.hook` of every plugin that has it, concurrently. */
async function runHooks(
  plugins: readonly LoadedPlugin[],
  context: HookContextData,
  env: Readonly<Record<string, string>>,
  log: Logger,
): Promise<boolean[]> {
  const { hook } = context;
  const calls = plugins.filter((p) => p.hooks.includes(hook)).map(
    async (plugin) => {
      const started = performance.now();
      const outcome = await plugin.call(
        hook,
        { ...context, options: pluginOptions(env, plugin.name) },
        context.timeoutMs,
      );
      const durationMs = Math.round(performance.now() - started);
      if (outcome.ok) {
        log.debug("Hook done", { plugin: plugin.name, hook, durationMs });
      } else {
        log.warn(
          `Hook ${outcome.reason === "timeout" ? "timed out" : "failed"}`,
          {
            plugin: plugin.name,
            hook,
            error: outcome.message,
            durationMs,
          },
        );
      }
      return outcome.ok;
    },
  );
  return await Promise.all(calls);
}
