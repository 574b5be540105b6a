/**
 * `--help` and `--version` text.
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import { DEFAULT_HOOK_TIMEOUT_MS, ENV_VARS } from "./config.ts";
import {
  EXIT_NOT_EXECUTABLE,
  EXIT_NOT_FOUND,
  EXIT_NOT_STARTED,
  EXIT_SOFTWARE,
  EXIT_USAGE,
} from "./exit_codes.ts";
import { BUILTIN_PLUGINS } from "./plugin_source.ts";

/** The wrapper's version, from deno.json. */
export const VERSION: string = denoJson.version;

/** The `--help` text. */
export function helpText(): string {
  return `wrapper ${VERSION}: run a command, then tell its sidecars to quit

Usage: wrapper [options] [--] <command> [args...]

Options (before the command; everything from the command on is its own):
  -p, --plugin <spec>      Load a plugin; repeatable, or a comma-separated list.
                           A spec is a file path, an https:// URL (http:// only
                           on loopback), or a built-in: ${
    Object.keys(BUILTIN_PLUGINS).join(", ")
  }.
                           Added to ${ENV_VARS.pluginPath}.
  -t, --timeout <duration> Deadline of each plugin load and hook call
                           (default ${
    DEFAULT_HOOK_TIMEOUT_MS / 1000
  }s; e.g. 500ms, 10s, 1m).
      --log-level <level>  debug, info, warn, error or off (default info).
      --log-format <fmt>   text or json (JSON Lines) (default text).
  -h, --help               Show this help.
  -V, --version            Show the version.

Environment (a flag wins over its variable):
  ${ENV_VARS.pluginPath}      Plugin specs, comma-separated (default: none).
  ${ENV_VARS.pluginTimeout}   Same as --timeout (default ${
    DEFAULT_HOOK_TIMEOUT_MS / 1000
  }s).
  ${ENV_VARS.logLevel}        Same as --log-level (default info).
  ${ENV_VARS.logFormat}       Same as --log-format (default text).
  WRAPPER_PLUGIN_<NAME>_<OPTION>
                           An option for plugin <NAME>, e.g.
                           WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL. Any other
                           WRAPPER_* variable is reported as unused.

Built-in plugins and their options:
  echo                     Logs that it ran, with the exit code. No options.
  istio-proxy              Asks Istio's pilot-agent to quit after the command.
    WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL
                           default http://localhost:15020/quitquitquit

Exit codes:
  n                        the command exited with n
  128+n                    the command was killed by signal n (SIGTERM: 143)
  ${EXIT_USAGE}                        usage error: no command, unknown option, bad value
  ${EXIT_SOFTWARE}                       internal error in the wrapper
  ${EXIT_NOT_STARTED}                      not started: a plugin failed to load or a
                           beforeStart hook failed
  ${EXIT_NOT_EXECUTABLE}                      the command is not executable
  ${EXIT_NOT_FOUND}                      the command was not found
A hook that fails or times out is logged and never changes the exit code.
`;
}
