/**
 * A loaded plugin's options against what it declares: the rules that catch
 * an operator's typo before the job starts, and the defaults that fill
 * `ctx.options`. Pure functions.
 * @module
 */
import type { PluginOption } from "../mod.ts";
import { PLUGIN_OPTION_PREFIX, pluginEnvName, SWITCH } from "./config.ts";
import { isLoopbackUrl } from "./plugin_runtime.ts";
import { escapeControls } from "./log.ts";

/** `quitUrl` → `QUIT_URL`: the option's part of its variable. */
export function optionEnvName(option: string): string {
  return option.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

/**
 * One declared option in a line: its description and default, with any
 * control character a plugin put there escaped.
 */
export function optionSummary(spec: PluginOption): string {
  const fallback = spec.default === undefined
    ? ""
    : ` (default ${escapeControls(spec.default)})`;
  return `${escapeControls(spec.description)}${fallback}`;
}

/** The variable that sets `option` of plugin `name`. */
export function optionVariable(name: string, option: string): string {
  return `${PLUGIN_OPTION_PREFIX}${pluginEnvName(name)}_${
    optionEnvName(option)
  }`;
}

/**
 * What is wrong with the options `given` to plugin `name`, which declares
 * `declared`: each variable it does not declare (with the nearest declared
 * one, when close), and each `loopback` option whose value is not an
 * `http(s)` URL on one of `loopbackHosts`. Empty when all is well.
 */
export function optionProblems(
  name: string,
  declared: Readonly<Record<string, PluginOption>>,
  given: Readonly<Record<string, string>>,
  loopbackHosts: readonly string[],
): string[] {
  const problems: string[] = [];
  const known = Object.keys(declared);
  for (const option of Object.keys(given)) {
    if (Object.hasOwn(declared, option)) continue;
    const near = nearest(option, known);
    problems.push(
      `Unknown option ${optionVariable(name, option)} of plugin "${name}": ${
        near === undefined
          ? known.length === 0
            ? "it has no options"
            : `its options are ${known.map(optionEnvName).join(", ")}`
          : `did you mean ${optionVariable(name, near)}?`
      }`,
    );
  }
  for (const [option, spec] of Object.entries(declared)) {
    const value = Object.hasOwn(given, option) ? given[option] : spec.default;
    const wrong = value === undefined ? undefined : valueProblem(spec, value);
    if (wrong !== undefined) {
      problems.push(`${optionVariable(name, option)} "${value}" ${wrong}`);
    }
  }
  return problems;

  /** What is wrong with `value` for `spec`, if anything. */
  function valueProblem(spec: PluginOption, value: string): string | undefined {
    const loopback = `is not an http(s) URL on ${
      loopbackHosts.join(", ")
    }: plugins reach only their own pod's loopback`;
    if (spec.switch && !Object.hasOwn(SWITCH, value.toLowerCase())) {
      return `is not a switch: use one of ${Object.keys(SWITCH).join(", ")}`;
    }
    if (spec.loopback && !isLoopbackUrl(value)) return loopback;
    if (spec.loopbackList) {
      const urls = urlList(value);
      if (typeof urls === "string") return urls;
      if (!urls.every(isLoopbackUrl)) return loopback;
    }
    return undefined;
  }
}

/**
 * The URLs of a `loopbackList` value: comma-separated, or a JSON array of
 * objects with a string `url`; or why it is neither.
 */
export function urlList(value: string): string[] | string {
  if (!value.trim().startsWith("[")) {
    return value.split(",").map((url) => url.trim()).filter(Boolean);
  }
  try {
    const list: unknown = JSON.parse(value);
    if (
      Array.isArray(list) &&
      list.every((e) => typeof e?.url === "string")
    ) return list.map((e) => e.url as string);
  } catch { /* said below */ }
  return 'is not a JSON array of {"url", …}';
}

/**
 * What `ctx.options` holds: `given` over the declared defaults, but a
 * `loopback` option that is not a loopback URL keeps its default, so that a
 * refused value still leaves the quit going where it would by default.
 */
export function withDefaults(
  declared: Readonly<Record<string, PluginOption>> | undefined,
  given: Readonly<Record<string, string>>,
): Record<string, string> {
  const options: Record<string, string> = Object.assign(
    Object.create(null),
    given,
  );
  for (const [option, spec] of Object.entries(declared ?? {})) {
    const value = Object.hasOwn(options, option) ? options[option] : undefined;
    const refused = spec.loopback && value !== undefined &&
      !isLoopbackUrl(value);
    if (refused) delete options[option];
    const word = options[option]?.toLowerCase();
    if (spec.switch && word !== undefined && Object.hasOwn(SWITCH, word)) {
      options[option] = String(SWITCH[word]);
    }
    if (options[option] === undefined && spec.default !== undefined) {
      options[option] = spec.default;
    }
  }
  return options;
}

/** The one of `names` within two edits of `name`, if exactly one is nearest. */
function nearest(name: string, names: readonly string[]): string | undefined {
  const scored = names.map((n) => [n, distance(name, n)] as const)
    .filter(([, d]) => d <= 2).sort((a, b) => a[1] - b[1]);
  if (scored.length === 0) return undefined;
  if (scored.length > 1 && scored[1]![1] === scored[0]![1]) return undefined;
  return scored[0]![0];
}

/** Edit distance, with a swap of neighbours counting as one (`ULR` → `URL`). */
function distance(a: string, b: string): number {
  const d = Array.from(
    { length: a.length + 1 },
    (_, i) => Array.from({ length: b.length + 1 }, (_, j) => i === 0 ? j : i),
  );
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(
        d[i - 1]![j]! + 1,
        d[i]![j - 1]! + 1,
        d[i - 1]![j - 1]! + cost,
      );
      if (
        i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]
      ) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
