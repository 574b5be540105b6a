/**
 * What a plugin author reads when a plugin cannot load or a hook fails: the
 * plugin's own file and line instead of a `blob:` URL, the sandbox explained
 * instead of Deno's "run again with --allow-…" (which no user of the wrapper
 * can do), and never the content of a file that is not a plugin.
 * The text is the plugin's own (up to a 1 MiB message): it is cut to
 * `MAX_ERROR_CHARS` before any pattern runs, so no pattern can take long.
 * @module
 */
import { cut } from "./plugin_runtime.ts";

/** Longest error text read or shown, in characters. */
export const MAX_ERROR_CHARS = 4096;

/** Extensions of plugin modules. */
const MODULE_EXTENSION = /\.[cm]?[jt]sx?$/;

/** Options of `explainLoadError`. */
export interface ExplainLoadErrorOptions {
  /** The spec as written. */
  spec: string;
  /** The path or URL it was read from. */
  where: string;
  /** True for a local file (its content may be anything, even a secret). */
  file: boolean;
}

/** Why a plugin did not load, for one log line. */
export function explainLoadError(
  message: string,
  options: ExplainLoadErrorOptions,
): string {
  const { where } = options;
  if (options.file && !MODULE_EXTENSION.test(where)) {
    return `"${where}" is not a plugin module (a plugin file ends in .ts, .mts, .js or .mjs; the error is not shown, in case the file holds secrets)`;
  }
  message = cut(message, MAX_ERROR_CHARS);
  const syntax = syntaxError(message);
  if (syntax !== undefined) return `${syntax.text} at ${where}:${syntax.at}`;
  const imported = /Import ['"]([^'"]+)['"]/.exec(message) ??
    /Relative import path "([^"]+)"/.exec(message) ??
    /Requires import access to "([^"]+)"/.exec(message);
  if (imported !== null) {
    return `it imports "${
      imported[1]
    }": a plugin must be one self-contained module (only \`import type\`, which is erased)`;
  }
  return explainHookError(message);
}

/** A hook's error for one log line, the sandbox explained. */
export function explainHookError(message: string): string {
  message = cut(message, MAX_ERROR_CHARS);
  const remote = /A remote specifier was requested: "([^"]+)"/.exec(message) ??
    /(?:npm|jsr): specifiers? .*?"([^"]+)"/.exec(message);
  if (remote !== null) {
    return `the plugin sandbox denies import of "${
      remote[1]
    }": a plugin must be one self-contained module`;
  }
  const denied = /Requires (\w+) access(?: to "([^"]*)")?/.exec(message);
  if (denied !== null) {
    const target = denied[2] === undefined ? "" : ` to "${denied[2]}"`;
    return `the plugin sandbox denies ${
      denied[1]
    } access${target}: plugins may only connect to localhost, 127.0.0.1 and [::1]`;
  }
  return message.split("\n", 1)[0]!.trim();
}

/** A syntax error's first line and its `line:column` in the plugin's text. */
function syntaxError(
  message: string,
): { text: string; at: string } | undefined {
  const lines = message.split("\n");
  // Deno 2.9 reports it as a TypeError: "TypeError: SyntaxError: …".
  const text = lines.map((line) => /SyntaxError: .*/.exec(line)?.[0])
    .find((found) => found !== undefined);
  if (text === undefined) return undefined;
  for (const line of lines) {
    const at = /^\s*at blob:\S*?:(\d+:\d+)\)?$/.exec(line);
    if (at !== null) return { text: text.trim(), at: at[1]! };
  }
  return undefined;
}
