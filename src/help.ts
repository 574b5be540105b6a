/**
 * `--help` and `--version` text.
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import { DEFAULTS, ENV_VARS } from "./config.ts";
import { DEFAULT_PODINFO_DIR } from "./podinfo.ts";
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

/** The `--help` text. */
export function helpText(): string {
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

Built-in plugins and their options (WRAPPER_PLUGIN_<NAME>_<OPTION>; "off" skips):
  echo              logs each hook, with the exit code; no options
  istio-proxy       READY_URL http://localhost:15021/healthz/ready
                    QUIT_URL  http://localhost:15020/quitquitquit
  envoy             READY_URL http://localhost:15000/ready
                    QUIT_URL  http://localhost:15000/quitquitquit
  linkerd           READY_URL http://localhost:4191/ready
                    QUIT_URL  http://localhost:4191/shutdown
  cloud-sql-proxy   READY_URL http://localhost:9090/readiness
                    QUIT_URL  http://localhost:9091/quitquitquit
  dapr              READY_URL http://localhost:3500/v1.0/healthz
                    QUIT_URL  http://localhost:3500/v1.0/shutdown
                    API_TOKEN (none) sent as dapr-api-token
  consul-dataplane  QUIT_URL  http://127.0.0.1:20600/graceful_shutdown
                    VERIFY    true
  vault-agent       QUIT_URL  http://127.0.0.1:8200/agent/v1/quit
  http              READY, QUIT: endpoint lists (none); VERIFY true

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
