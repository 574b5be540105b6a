/**
 * `--help` and `--version` text.
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import { SETTINGS } from "./settings.ts";
import type { Plugin, PluginOption } from "../mod.ts";
import { optionEnvName, optionSummary } from "./plugin_options.ts";
import { BUILTIN_PLUGINS, importBuiltin } from "./plugin_source.ts";
import {
  EXIT_NOT_EXECUTABLE,
  EXIT_NOT_FOUND,
  EXIT_NOT_STARTED,
  EXIT_SOFTWARE,
  EXIT_USAGE,
} from "./exit_codes.ts";

/** The wrapper's version, from deno.json. */
export const VERSION: string = denoJson.version;

/** The settings that have flags, as `--help` rows: flags, then the setting's help. */
function flagRows(): [string, string][] {
  return Object.values(SETTINGS).flatMap((setting): [string, string][] => {
    if (!("flags" in setting)) return [];
    const flags = setting.flags.filter((flag) => flag !== "--check-plugin");
    const value = setting.kind === "specs" ? "<spec>" : `<${setting.kind}>`;
    return [[
      `${flags.join(", ")} ${value}`,
      `${setting.help} Sets ${setting.env}${
        setting.kind === "specs" ? " (adds to it; repeatable)" : ""
      }.`,
    ]];
  });
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
      const plugin = (await importBuiltin(file) as { default: Plugin })
        .default;
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
      optionSummary(spec),
    ]);
    return rows.length > 0 ? rows : [[name, "no options"]];
  }));
}

/** The `--help` text, with the built-ins' options from their declarations. */
export function helpText(builtins: readonly BuiltinHelp[]): string {
  return `wrapper ${VERSION}: run a command, then tell its sidecars to quit

Usage: wrapper [options] [--] <command> [args...]

Options (before the command; everything from the command on is its own):
${
    table([
      ...flagRows(),
      ["-h, --help", "Show this help."],
      ["-V, --version", "Show the version."],
      [
        "--check-plugin <spec>",
        `Load the plugin (and those of -p), run nothing, and print its name, hooks and options, or why it cannot load (exit ${EXIT_NOT_STARTED}).`,
      ],
      [
        "--print-types",
        "Print the plugin API's types (mod.ts), to type-check a plugin: > wrapper_types.ts",
      ],
      [
        "--install <folder>",
        `Copy the wrapper into an existing folder (an init container's emptyDir) and run nothing; <folder>/wrapper is then the wrapper. A bad folder is a usage error (${EXIT_USAGE}), a failed copy ${EXIT_NOT_STARTED}.`,
      ],
    ])
  }

Environment (a flag wins over its variable; empty means unset):
${
    table([
      ...Object.values(SETTINGS).map((setting): [string, string] => [
        setting.env,
        `${setting.help} Default: ${setting.default}.`,
      ]),
      [
        "WRAPPER_PLUGIN_<NAME>_<OPTION>",
        "An option for plugin <NAME> (below). Any other WRAPPER_* variable is a usage error.",
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
