/**
 * `--help` and `--version` text.
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import { DEFAULTS, ENV_VARS } from "./config.ts";
import { DEFAULT_PODINFO_DIR } from "./podinfo.ts";
import type { Plugin, PluginOption } from "../mod.ts";
import { optionEnvName } from "./plugin_options.ts";
import { BUILTIN_PLUGINS } from "./plugin_source.ts";
import {
  EXIT_NOT_EXECUTABLE,
  EXIT_NOT_FOUND,
  EXIT_NOT_STARTED,
  EXIT_SOFTWARE,
  EXIT_USAGE,
} from "./exit_codes.ts";

/** The wrapper's version, from deno.json. */
export const VERSION: string = denoJson.version;

function seconds(ms: number): string {
  return `${ms / 1000}s`;
}

/** Two columns: names padded, descriptions wrapped at 80 characters. */
function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([name]) => name.length)) + 4;
  return rows.map(([name, text]) => {
    const lines: string[] = [];
    let line = "";
    for (const word of text.split(" ")) {
      if (line !== "" && width + line.length + word.length >= 80) {
        lines.push(line);
        line = word;
      } else line = line === "" ? word : `${line} ${word}`;
    }
    lines.push(line);
    return `  ${name.padEnd(width - 2)}${lines.join(`\n${" ".repeat(width)}`)}`;
  }).join("\n");
}

/** A built-in plugin's name and declared options, for the help text. */
export interface BuiltinHelp {
  name: string;
  options: Readonly<Record<string, PluginOption>>;
}

/** The built-ins' declarations, read from their modules. */
export async function builtinHelp(): Promise<BuiltinHelp[]> {
  return await Promise.all(
    Object.entries(BUILTIN_PLUGINS).map(async ([name, file]) => {
      const plugin: Plugin = (await import(`../plugins/${file}`)).default;
      return { name, options: plugin.options ?? {} };
    }),
  );
}

/** One row per option of each built-in; a built-in with none gets one row. */
function builtinOptions(builtins: readonly BuiltinHelp[]): string {
  return table(builtins.flatMap(({ name, options }) => {
    const rows = Object.entries(options).map(([option, spec]): [
      string,
      string,
    ] => [
      `${name} ${optionEnvName(option)}`,
      `${spec.description}${
        spec.default === undefined ? "" : ` (default ${spec.default})`
      }`,
    ]);
    return rows.length > 0 ? rows : [[name, "no options"]];
  }));
}

/** The `--help` text, with the built-ins' options from their declarations. */
export function helpText(builtins: readonly BuiltinHelp[]): string {
  return `wrapper ${VERSION}: run a command, then tell its sidecars to quit

Usage: wrapper [options] [--] <command> [args...]

Options (before the command; everything from the command on is its own):
  -p, --plugin <spec>      Load a plugin; repeatable, or a comma-separated list.
                           A spec is a file path, an https:// URL (http:// only
                           on loopback), or a built-in name (below).
                           Added to ${ENV_VARS.pluginPath}.
  -t, --timeout <duration> Deadline of each plugin load and afterExit hook
                           (default ${
    seconds(DEFAULTS.hookTimeoutMs)
  }; e.g. 500ms, 10s, 1m).
      --log-level <level>  debug, info, warn, error or off (default info).
      --log-format <fmt>   text or json (JSON Lines) (default text).
  -h, --help               Show this help.
  -V, --version            Show the version.
      --check-plugin <spec> Load the plugin (and those of -p), run nothing,
                           and print its name, hooks and options, or why it
                           cannot load (exit ${EXIT_NOT_STARTED}).
      --print-types        Print the plugin API's types (mod.ts), for
                           type-checking a plugin: > wrapper_types.ts

Environment (a flag wins over its variable):
${
    table([
      [ENV_VARS.pluginPath, "Plugin specs, comma-separated (default: none)."],
      [
        ENV_VARS.pluginTimeout,
        `Same as --timeout (default ${seconds(DEFAULTS.hookTimeoutMs)}).`,
      ],
      [ENV_VARS.logLevel, "Same as --log-level (default info)."],
      [ENV_VARS.logFormat, "Same as --log-format (default text)."],
      [
        ENV_VARS.hooks,
        "off: load no plugin, just run the command (default on).",
      ],
      [
        ENV_VARS.readyTimeout,
        `Deadline of beforeStart hooks (readiness waits) (default ${
          seconds(DEFAULTS.readyTimeoutMs)
        }).`,
      ],
      [
        ENV_VARS.readyPolicy,
        `A sidecar never ready or absent: start (warn, run the command) or fail (exit ${EXIT_NOT_STARTED}) (default start).`,
      ],
      [
        ENV_VARS.absentAfter,
        `Connection refused this long, with no answer, means no sidecar (default ${
          seconds(DEFAULTS.absentAfterMs)
        }).`,
      ],
      [
        ENV_VARS.verifyTimeout,
        `How long a sidecar's port may stay open after it accepted the quit (default ${
          seconds(DEFAULTS.verifyTimeoutMs)
        }).`,
      ],
      [
        ENV_VARS.quitOnFailure,
        "false: skip afterExit hooks when the command failed, for restartPolicy: OnFailure (default true).",
      ],
      [
        ENV_VARS.nativeSidecars,
        "true: Kubernetes native sidecars; no readiness wait, no quit (default false).",
      ],
      [
        ENV_VARS.fetchTimeout,
        `Deadline to fetch one remote plugin, retries included (default ${
          seconds(DEFAULTS.fetchTimeoutMs)
        }).`,
      ],
      [
        ENV_VARS.podinfoDir,
        `The pod's downward API metadata (annotations, labels): the sidecars it shows are waited for and told to quit (default ${DEFAULT_PODINFO_DIR}; when set, it must exist).`,
      ],
      [
        ENV_VARS.inspectorGuard,
        "off: under deno run, do not hold 127.0.0.1:9229; SIGUSR1 then opens Deno's inspector there (default on; compiled binaries have no such inspector).",
      ],
      [
        ENV_VARS.signalTarget,
        "group: forward signals to the command's whole process group, as tini -g (default process: the command only).",
      ],
      [
        "WRAPPER_PLUGIN_<NAME>_<OPTION>",
        "An option for plugin <NAME> (below). Any other WRAPPER_* variable is reported as unused.",
      ],
    ])
  }
  A spec may end in #sha256=<64 hex> to pin the plugin's text. The spec "auto"
  names the built-ins for the sidecars the pod's metadata shows (they are
  added whenever the metadata is mounted; "auto" warns when it is not).

Built-in plugins and their options (WRAPPER_PLUGIN_<NAME>_<OPTION>; a URL "off"
skips that call):
${builtinOptions(builtins)}

Exit codes:
  n                        the command exited with n
  128+n                    the command was killed by signal n (SIGTERM: 143, the
                           real-time signals too), or a stop signal came first
  ${EXIT_USAGE}                        usage error: no command, unknown option, bad value
  ${EXIT_SOFTWARE}                       internal error in the wrapper
  ${EXIT_NOT_STARTED}                      not started: a plugin failed to load, or a
                           beforeStart hook failed with WRAPPER_READY_POLICY=fail
  ${EXIT_NOT_EXECUTABLE}                      the command is not executable
  ${EXIT_NOT_FOUND}                      the command was not found
A hook that fails or times out is logged and never changes the exit code.
On every way out (${EXIT_USAGE}, ${EXIT_SOFTWARE}, ${EXIT_NOT_STARTED}, a stop signal in any phase) the loaded plugins'
afterExit hooks still tell their sidecars to quit.
`;
}
