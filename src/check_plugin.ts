/**
 * `wrapper --check-plugin <spec>`: load plugins as a run would (fetch, pin,
 * sandbox, load), run no job and no hook, and print each one's name, hooks
 * and declared options, or log why it cannot load. For a plugin's CI, and
 * for an operator checking a URL and its pin before a rollout.
 * @module
 */
import type { Config } from "./config.ts";
import { EXIT_NOT_STARTED, EXIT_USAGE } from "./exit_codes.ts";
import { escapeControls, type Logger } from "./log.ts";
import type { LoadedPlugin } from "./plugin_host.ts";
import { optionSummary, optionVariable } from "./plugin_options.ts";
import type { PluginPlan } from "./plan.ts";
import { PluginSet } from "./plugin_set.ts";

/**
 * Load every planned plugin (a stop signal ends it) and check their options
 * as a run would; returns the text to print, the mistakes a run would stop
 * on (exit 2), and the exit code.
 */
export async function checkPlugins(
  config: Config,
  plan: PluginPlan,
  env: Readonly<Record<string, string>>,
  log: Logger,
  stopping: AbortSignal,
): Promise<{ text: string; mistakes: string[]; code: number }> {
  const plugins = new PluginSet(config, plan, env, log);
  try {
    const failure = await plugins.load(plan.plugins, stopping);
    const text = plugins.plugins.map(describePlugin).join("");
    const mistakes = plugins.optionProblems();
    const code = failure !== undefined
      ? EXIT_NOT_STARTED
      : mistakes.length > 0
      ? EXIT_USAGE
      : 0;
    return { text, mistakes, code };
  } finally {
    plugins.close();
  }
}

/** A loaded plugin in a few lines: name, spec, hooks, then its options. */
export function describePlugin(plugin: LoadedPlugin): string {
  const head = `${plugin.name} (${escapeControls(plugin.spec)}): ${
    plugin.hooks.join(", ")
  }\n`;
  if (plugin.options === undefined) {
    return `${head}  options: not declared (every WRAPPER_PLUGIN_* variable of its name is passed unchecked)\n`;
  }
  const rows = Object.entries(plugin.options).map(([option, spec]) =>
    `  ${optionVariable(plugin.name, option)}: ${optionSummary(spec)}${
      spec.loopback ? " [loopback URL]" : ""
    }\n`
  );
  return head + (rows.length > 0 ? rows.join("") : "  options: none\n");
}
