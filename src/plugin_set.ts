/**
 * The plugins of one run: loading them (built-ins never wait on the others),
 * each one's hook context, and running one hook on all of them at once.
 * @module
 */
import type { HookName, SidecarSettings } from "../mod.ts";
import type { HookContextData } from "./_protocol.ts";
import {
  type Config,
  optionClash,
  pluginOptions,
  unusedEnvVars,
} from "./config.ts";
import { DETECTABLE_PLUGINS } from "./detect.ts";
import { firstLine, PluginError } from "./errors.ts";
import type { Logger } from "./log.ts";
import type { PlannedPlugin, PluginPlan } from "./plan.ts";
import {
  type LoadedPlugin,
  loadPlugin,
  runsFromModule,
} from "./plugin_host.ts";
import {
  BUILTIN_PLUGINS,
  type PluginSource,
  readPluginSource,
  resolveSpec,
} from "./plugin_source.ts";
import { after, LOOPBACK_HOSTS, READY_PROGRESS_MS } from "./plugin_runtime.ts";
import { optionProblems, withDefaults } from "./plugin_options.ts";

/**
 * How long a local plugin may go on being read and loaded after a stop
 * signal: a normal load takes tens of ms, and then its quit can be sent.
 */
export const STOP_LOAD_GRACE_MS = 1000;

/** What a hook's context adds after the job: how it ended. */
export type ExitFields = Pick<
  Required<HookContextData>,
  "exit" | "durationMs" | "started"
>;

/** The loaded plugins of one run. */
export class PluginSet {
  #loaded: Array<{ plugin: LoadedPlugin; implicit: boolean }> = [];
  #config: Config;
  #plan: PluginPlan;
  #env: Readonly<Record<string, string>>;
  #log: Logger;
  /** Each plugin's context for a hook, but how the job ended (`prepare`). */
  #contexts = new Map<string, HookContextData>();

  constructor(
    config: Config,
    plan: PluginPlan,
    env: Readonly<Record<string, string>>,
    log: Logger,
  ) {
    this.#config = config;
    this.#plan = plan;
    this.#env = env;
    this.#log = log;
  }

  /** The plugins loaded so far. */
  get plugins(): LoadedPlugin[] {
    return this.#loaded.map((entry) => entry.plugin);
  }

  /**
   * Load `planned` concurrently; keep each that loads. Resolves to the first
   * failure, or undefined. `signal` interrupts fetches and loads.
   */
  async load(
    planned: readonly PlannedPlugin[],
    signal?: AbortSignal,
  ): Promise<PluginError | undefined> {
    const timeoutMs = this.#config.hookTimeoutMs;
    // A stop signal ends a fetch at once (it may wait 30 s), but a local read
    // and a load get a moment to finish, so that their quits are still sent.
    const soon = signal === undefined
      ? {}
      : { signal: abortLater(signal, STOP_LOAD_GRACE_MS) };
    const settled = await Promise.allSettled(planned.map(async (location) => {
      const started = performance.now();
      try {
        const remote = location.kind === "remote" && signal !== undefined;
        const source = unread(location) ?? await readPluginSource(location, {
          timeoutMs: this.#config.fetchTimeoutMs,
          log: this.#log,
          ...(remote ? { signal } : soon),
        });
        const plugin = await loadPlugin(source, { timeoutMs, ...soon });
        await this.#checkBuiltinName(plugin, source);
        const loadMs = Math.round((performance.now() - started) * 10) / 10;
        return { plugin, implicit: location.implicit, loadMs };
      } catch (error) {
        // Whatever went wrong with this one, the others load: their sidecars
        // are still told to quit.
        if (error instanceof PluginError) throw error;
        const reason = signal?.aborted
          ? `interrupted by ${signal.reason}`
          : firstLine(error);
        throw new PluginError(location.spec, reason, { cause: error });
      }
    }));
    let failure: PluginError | undefined;
    for (const outcome of settled) {
      if (outcome.status === "rejected") {
        failure ??= outcome.reason as PluginError;
        this.#log.error((outcome.reason as PluginError).message);
        continue;
      }
      const { plugin, implicit, loadMs } = outcome.value;
      const clash = this.#add(plugin, implicit); // always kept, failure or not
      if (clash !== undefined) this.#log.error(clash.message);
      failure ??= clash;
      this.#log.debug("Loaded plugin", {
        plugin: plugin.name,
        spec: plugin.spec,
        hooks: plugin.hooks.join(","),
        isolation: plugin.isolation,
        loadMs,
      });
    }
    return failure;
  }

  /**
   * A file or URL plugin may bear a built-in's name only if it is that
   * built-in's own text (the built-in run sandboxed): otherwise it would
   * receive the built-in's options, which may be secret, and replace the
   * built-in that the pod's metadata asked for.
   */
  async #checkBuiltinName(
    plugin: LoadedPlugin,
    source: PluginSource,
  ): Promise<void> {
    if (source.location.kind === "builtin") return;
    if (!Object.hasOwn(BUILTIN_PLUGINS, plugin.name)) return;
    const builtin = await readPluginSource(resolveSpec(plugin.name), {
      timeoutMs: this.#config.fetchTimeoutMs,
    }).catch(() => undefined);
    if (builtin?.code === source.code) return;
    plugin.close();
    throw new PluginError(
      plugin.spec,
      `it is named "${plugin.name}", the name of a built-in plugin, but is not its code: give your plugin a name of its own`,
    );
  }

  /**
   * Keep `plugin` unless another has its name. A built-in added only because
   * the pod's metadata shows its sidecar yields to its own file named in the
   * spec (the only other plugin that may bear its name).
   */
  #add(plugin: LoadedPlugin, implicit: boolean): PluginError | undefined {
    // A built-in's options are fixed and may be secret (dapr's API_TOKEN):
    // no other plugin's name may overlap them. Between other plugins, each
    // variable goes to the longest matching name (pluginOptions).
    const clash = optionClash(plugin.name, Object.keys(BUILTIN_PLUGINS));
    if (clash !== undefined) {
      plugin.close();
      return new PluginError(plugin.spec, clash);
    }
    const index = this.#loaded.findIndex((e) => e.plugin.name === plugin.name);
    const other = this.#loaded[index];
    if (other === undefined) {
      this.#loaded.push({ plugin, implicit });
      return undefined;
    }
    if (other.implicit || implicit) {
      // The same code (#checkBuiltinName): the one named by its file runs.
      const dropped = implicit ? plugin : other.plugin;
      this.#log.debug("Using the built-in named by its file", {
        plugin: plugin.name,
        spec: implicit ? other.plugin.spec : plugin.spec,
      });
      dropped.close();
      if (!implicit) this.#loaded[index] = { plugin, implicit };
      return undefined;
    }
    plugin.close();
    return new PluginError(
      plugin.spec,
      `another plugin is already named "${plugin.name}" ("${other.plugin.spec}")`,
    );
  }

  /** Warn about `WRAPPER_*` variables that no setting or loaded plugin reads. */
  reportUnusedVariables(): void {
    const names = this.plugins.map((p) => p.name);
    for (const name of unusedEnvVars(this.#env, names)) {
      this.#log.warn("Ignoring variable: no such setting or loaded plugin", {
        name,
      });
    }
  }

  /**
   * Each loaded plugin's options against those it declares: an unknown
   * option, or a non-loopback URL. Empty when all is well.
   */
  optionProblems(): string[] {
    return this.plugins.flatMap((plugin) =>
      plugin.options === undefined ? [] : optionProblems(
        plugin.name,
        plugin.options,
        this.#given(plugin.name),
        LOOPBACK_HOSTS,
      )
    );
  }

  /** The options set for plugin `name` by variables. */
  #given(name: string): Record<string, string> {
    return pluginOptions(this.#env, name, this.plugins.map((p) => p.name));
  }

  /**
   * Work out each plugin's context for `hook` ahead of time: called while
   * the job runs, it takes the options' and settings' work (and V8's first
   * compile of it) off the path from the job's exit to the quits.
   */
  prepare(hook: HookName): void {
    for (const plugin of this.plugins) this.#context(plugin.name, hook);
  }

  /**
   * Run `hook` of every plugin that has it, concurrently; true for each
   * success. Never rejects: a fault of the wrapper's own with one plugin is
   * that plugin's failure, and the others' calls (their quits) still finish.
   */
  async run(hook: HookName, exit?: ExitFields): Promise<boolean[]> {
    const calls = this.plugins.filter((p) => p.hooks.includes(hook)).map(
      async (plugin) => {
        const fields = { plugin: plugin.name, hook };
        try {
          // A copy: an in-process plugin gets the object itself.
          const context = structuredClone({
            ...this.#context(plugin.name, hook),
            ...exit,
          });
          const started = performance.now();
          const outcome = await plugin.call(hook, context, context.timeoutMs);
          const durationMs = Math.round(performance.now() - started);
          if (outcome.ok) {
            this.#log.debug("Hook done", { ...fields, durationMs });
          } else {
            this.#log.warn(
              `Hook ${outcome.reason === "timeout" ? "timed out" : "failed"}`,
              { ...fields, error: outcome.message, durationMs },
            );
          }
          return outcome.ok;
        } catch (error) {
          this.#log.error("Internal error running a hook", {
            ...fields,
            error: (error as Error)?.stack ?? String(error),
          });
          return false;
        }
      },
    );
    return await Promise.all(calls);
  }

  /** End every plugin's runtime; a hook under way ends with `reason`. */
  close(reason?: string): void {
    for (const { plugin } of this.#loaded) plugin.close(reason);
  }

  /** Plugin `name`'s context for `hook`, worked out once (nothing in it changes). */
  #context(name: string, hook: HookName): HookContextData {
    const key = `${name}\0${hook}`;
    const known = this.#contexts.get(key);
    if (known !== undefined) return known;
    const config = this.#config;
    const declared = this.plugins.find((p) => p.name === name)?.options;
    const context: HookContextData = {
      hook,
      command: config.command,
      options: withDefaults(declared, this.#given(name)),
      timeoutMs: hook === "beforeStart"
        ? config.readyTimeoutMs
        : config.hookTimeoutMs,
      sidecar: this.sidecarSettings(name),
    };
    this.#contexts.set(key, context);
    return context;
  }

  /**
   * What the helpers of plugin `name` know of its sidecar. Metadata that
   * shows it means: wait for it however late it starts, and tell it to quit
   * even if it is not listening yet. Metadata that shows none: no wait.
   */
  sidecarSettings(name: string): SidecarSettings {
    const config = this.#config;
    const detected = this.#plan.detected.get(name);
    const injected = this.#plan.metadata && DETECTABLE_PLUGINS.has(name)
      ? detected !== undefined
      : null;
    const noShortcut = injected === true || config.readyPolicy === "fail";
    return {
      absentAfterMs: noShortcut ? null : config.absentAfterMs,
      verifyTimeoutMs: config.verifyTimeoutMs,
      native: config.nativeSidecars || (detected?.native ?? false),
      injected,
      progressMs: READY_PROGRESS_MS,
    };
  }
}

/**
 * A built-in beside the wrapper, unpinned, runs in-process from its module:
 * its text is never needed, so it is not read (~1 ms of start-up).
 */
function unread(location: PlannedPlugin): PluginSource | undefined {
  return runsFromModule(location) && location.sha256 === undefined
    ? { location, code: "", mediaType: "application/typescript" }
    : undefined;
}

/** A signal that aborts `ms` after `signal` does, with its reason. */
function abortLater(signal: AbortSignal, ms: number): AbortSignal {
  const later = new AbortController();
  const start = () => after(ms, () => later.abort(signal.reason));
  if (signal.aborted) start();
  else signal.addEventListener("abort", start, { once: true });
  return later.signal;
}
