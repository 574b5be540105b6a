/**
 * Command line and `WRAPPER_*` environment, parsed once into a `Config`.
 * Flags come before the command; everything from the command on is its own.
 * @module
 */
import { UsageError } from "./errors.ts";
import { type SettingDef, type SettingKey, SETTINGS } from "./settings.ts";

/** How much the wrapper logs. */
export type LogLevelSetting = "debug" | "info" | "warn" | "error" | "off";
/** How the wrapper's log lines look. */
export type LogFormat = "text" | "json";

/** Everything the wrapper needs to know, resolved from flags then env. */
export interface Config {
  /** What to do: run the command, print help, version or types, check plugins, or install. */
  action: "run" | "help" | "version" | "types" | "check" | "install";
  /** `--install`'s folder ("" unless given). */
  installDir: string;
  /** The command and its arguments, untouched. */
  command: string[];
  /** Plugin specs in load order: flags first, then `WRAPPER_PLUGIN_PATH`. */
  plugins: string[];
  /** Deadline for one hook call (and for loading one plugin), in ms. */
  hookTimeoutMs: number;
  /** Lowest level logged. */
  logLevel: LogLevelSetting;
  /** Log line format. */
  logFormat: LogFormat;
  /** False when `WRAPPER_HOOKS=off`: no plugin is loaded, the command just runs. */
  hooks: boolean;
  /** Deadline of each beforeStart hook (readiness waits), in ms. */
  readyTimeoutMs: number;
  /** What a failed beforeStart hook (a sidecar never ready, or absent) means. */
  readyPolicy: ReadyPolicy;
  /** Connection refused for this long, with no answer at all, means "no sidecar". */
  absentAfterMs: number;
  /** How long to wait for a sidecar's port to close after it accepted the quit. */
  verifyTimeoutMs: number;
  /** False when afterExit hooks are skipped after a failed command. */
  quitOnFailure: boolean;
  /** Sidecars are Kubernetes native sidecars: no readiness wait, no quit. */
  nativeSidecars: boolean;
  /** Deadline to fetch one remote plugin, retries included, in ms. */
  fetchTimeoutMs: number;
  /** Where the pod's downward API metadata is mounted. */
  podinfoDir: string;
  /** True when `WRAPPER_PODINFO_DIR` names it (then it must exist). */
  podinfoDirSet: boolean;
  /** Hold 127.0.0.1:9229 under `deno run`, so SIGUSR1 opens no inspector. */
  inspectorGuard: boolean;
  /** Where signals go: the job, its whole group (`tini -g`), or auto. */
  signalTarget: "auto" | "process" | "group";
}

/** `fail`: do not start the command (exit 125); `start`: warn and start it. */
export type ReadyPolicy = "fail" | "start";

/** The variable of each setting (settings.ts), by key. */
export const ENV_VARS = Object.fromEntries(
  Object.entries(SETTINGS).map(([key, setting]) => [key, setting.env]),
) as { readonly [K in SettingKey]: (typeof SETTINGS)[K]["env"] };

/** Prefix of plugin option variables: `WRAPPER_PLUGIN_<NAME>_<OPTION>`. */
export const PLUGIN_OPTION_PREFIX = "WRAPPER_PLUGIN_";

/** Each flag that takes a value, and its setting. */
const VALUE_OPTIONS = new Map<string, SettingKey>(
  Object.entries(SETTINGS).flatMap(([key, setting]) =>
    ("flags" in setting ? setting.flags : []).map((flag): [
      string,
      SettingKey,
    ] => [flag, key as SettingKey])
  ),
);

/** What a setting's text becomes. */
type ValueOf<K extends SettingKey> = (typeof SETTINGS)[K] extends
  { kind: "duration" } ? number
  : (typeof SETTINGS)[K] extends { kind: "switch" } ? boolean
  : (typeof SETTINGS)[K] extends { choices: infer C } ? C[keyof C]
  : string;

/** A `Config` read as far as it could be, and what was wrong with it. */
export interface ConfigReading {
  /** Every setting; a bad value is replaced by its default. */
  config: Config;
  /** Each mistake found, in order; empty when the config is valid. */
  problems: UsageError[];
  /** What is odd but not wrong, to log once logging is set up. */
  warnings: string[];
}

/** Parse `args` (options, then the command) and `env`; throws the first mistake. */
export function parseConfig(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Config {
  const { config, problems } = readConfig(args, env);
  if (problems.length > 0) throw problems[0];
  return config;
}

/**
 * Read `args` and `env` leniently: every mistake is collected and its
 * setting falls back to its default, so that even a usage error knows which
 * plugins were asked for and can still tell their sidecars to quit.
 */
export function readConfig(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): ConfigReading {
  const problems: UsageError[] = [];
  const { flags, flagNames, flagPlugins, action, installDir, command } =
    readArgs(
      args,
      problems,
    );
  const fromEnv = (key: SettingKey) =>
    flags[key] ?? emptyToUndefined(env[SETTINGS[key].env]);
  /** A setting's value; a mistake is collected and its default used. */
  const value = <K extends SettingKey>(key: K): ValueOf<K> => {
    const setting: SettingDef = SETTINGS[key];
    const fallback = parseSetting(setting, setting.default, setting.env);
    const text = fromEnv(key);
    if (text === undefined) return fallback as ValueOf<K>;
    try {
      // A mistake names the flag that gave the value, else the variable.
      return parseSetting(
        setting,
        text,
        flagNames[key] ?? setting.env,
      ) as ValueOf<K>;
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      problems.push(error);
      return fallback as ValueOf<K>;
    }
  };
  const plugins = [...flagPlugins];
  const warnings: string[] = [];
  const envPath = env[ENV_VARS.pluginPath];
  if (envPath !== undefined && envPath.trim() === "") {
    warnings.push(
      `${ENV_VARS.pluginPath} is set but empty: no plugin comes from it (an unset template value?)`,
    );
  } else if (envPath !== undefined) {
    for (const spec of splitSpecs(envPath, ENV_VARS.pluginPath, problems)) {
      if (!plugins.includes(spec)) plugins.push(spec);
    }
  }
  const config: Config = {
    action,
    installDir,
    command,
    plugins,
    hookTimeoutMs: value("pluginTimeout"),
    logLevel: value("logLevel"),
    logFormat: value("logFormat"),
    hooks: value("hooks"),
    readyTimeoutMs: value("readyTimeout"),
    readyPolicy: value("readyPolicy"),
    absentAfterMs: value("absentAfter"),
    verifyTimeoutMs: value("verifyTimeout"),
    quitOnFailure: value("quitOnFailure"),
    nativeSidecars: value("nativeSidecars"),
    fetchTimeoutMs: value("fetchTimeout"),
    podinfoDir: value("podinfoDir"),
    podinfoDirSet: fromEnv("podinfoDir") !== undefined,
    inspectorGuard: value("inspectorGuard"),
    signalTarget: value("signalTarget"),
  };
  if (action !== "run" && command.length > 0) {
    const flag = {
      help: "--help",
      version: "--version",
      types: "--print-types",
      check: "--check-plugin",
      install: "--install",
    }[action];
    problems.push(
      new UsageError(`No command runs with ${flag}: remove "${command[0]}"`),
    );
  }
  if (action === "run" || action === "check") {
    for (const name of unknownSettings(env)) {
      problems.push(
        new UsageError(
          `Unknown variable ${name}: no such setting, and not a plugin option (${PLUGIN_OPTION_PREFIX}<NAME>_<OPTION>)`,
        ),
      );
    }
  }
  return { config, problems, warnings };
}

/**
 * `WRAPPER_*` variables that are neither a setting nor shaped like a plugin
 * option (`WRAPPER_PLUGIN_<NAME>_<OPTION>`): `WRAPPER_PLUGINS`,
 * `WRAPPER_PLUGIN_TIMOUT`, `WRAPPER_LOGLEVEL`. A plugin option is checked
 * once the plugins are loaded (`unusedEnvVars`, declared options).
 */
export function unknownSettings(
  env: Readonly<Record<string, string>>,
): string[] {
  const option = new RegExp(
    `^${PLUGIN_OPTION_PREFIX}[A-Z0-9]+(_[A-Z0-9]+)*_[A-Z0-9]+$`,
  );
  const reserved = new RegExp(`^${PLUGIN_OPTION_PREFIX}(PATH|TIMEOUT)_`);
  return notSettings(env).filter((key) =>
    !option.test(key) || reserved.test(key)
  );
}

/**
 * The `WRAPPER_*` variables that are no setting (nor Kubernetes' own for a
 * Service named `wrapper`), sorted: typos, or plugin options.
 */
function notSettings(env: Readonly<Record<string, string>>): string[] {
  const known = new Set<string>(Object.values(ENV_VARS));
  return Object.keys(env).filter((key) =>
    key.startsWith("WRAPPER_") && !known.has(key) && !isServiceLink(key)
  ).sort();
}

/**
 * Kubernetes' own variables for a Service named `wrapper` or `wrapper-…`
 * (`enableServiceLinks`, on by default): `WRAPPER_SERVICE_HOST`,
 * `WRAPPER_PORT_80_TCP_ADDR`… Someone else's Service must not stop a Job.
 */
export function isServiceLink(key: string): boolean {
  return /^WRAPPER(_[A-Z0-9_]+)?_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_\d+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)$/
    .test(key);
}

/** A setting's text as its kind reads it; throws `UsageError`. */
function parseSetting(
  setting: SettingDef,
  text: string,
  what: string,
): unknown {
  switch (setting.kind) {
    case "duration":
      return parseDuration(text, 0, what);
    case "switch":
      return parseChoice(text, SWITCH, what);
    case "choice":
      return parseChoice(text, setting.choices!, what);
    default:
      return text;
  }
}

/** The options before the command, and the command. */
function readArgs(args: readonly string[], problems: UsageError[]) {
  const flagPlugins: string[] = [];
  const flags: Partial<Record<SettingKey, string>> = {};
  const flagNames: Partial<Record<SettingKey, string>> = {};
  let action: Config["action"] = "run";
  let installDir = "";
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-") || arg === "-") break;
    if (arg === "-h" || arg === "--help") {
      action = "help";
      continue;
    }
    if (arg === "-V" || arg === "--version") {
      if (action === "run") action = "version";
      continue;
    }
    if (arg === "--print-types") {
      if (action === "run") action = "types";
      continue;
    }
    if (arg === "--install" || arg.startsWith("--install=")) {
      const dir = arg === "--install" ? args[++i] : arg.slice(10);
      if (dir === undefined || dir === "") {
        problems.push(new UsageError(`Option "--install" needs a folder`));
      } else if (installDir !== "") {
        problems.push(new UsageError(`Option "--install" given twice`));
      } else {
        installDir = dir;
      }
      continue;
    }
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const key = VALUE_OPTIONS.get(name);
    if (key === undefined) {
      problems.push(new UsageError(`Unknown option "${name}"`));
      continue;
    }
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < args.length) value = args[++i];
    if (value === undefined) {
      problems.push(new UsageError(`Option "${name}" needs a value`));
      continue;
    }
    if (name === "--check-plugin" && action === "run") action = "check";
    if (key === "pluginPath") {
      for (const spec of splitSpecs(value, name, problems)) {
        if (!flagPlugins.includes(spec)) flagPlugins.push(spec);
      }
    } else {
      flags[key] = value;
      flagNames[key] = name;
    }
  }
  const command = args.slice(i);
  if (installDir !== "" && action !== "run") {
    problems.push(
      new UsageError(`--install runs alone: remove the other no-job option`),
    );
  }
  if (installDir !== "") action = "install";
  if (action === "run" && command.length === 0) {
    problems.push(new UsageError("No command given"));
  } else if (action === "run" && command[0] === "") {
    problems.push(new UsageError("The command is an empty string"));
  }
  return { flags, flagNames, flagPlugins, action, installDir, command };
}

/** The words a switch accepts. */
export const SWITCH: Readonly<Record<string, boolean>> = {
  true: true,
  on: true,
  yes: true,
  "1": true,
  false: false,
  off: false,
  no: false,
  "0": false,
};

/**
 * Split a comma-separated list of plugin specs. An empty entry is a mistake,
 * added to `problems`; the other entries are kept.
 */
export function splitSpecs(
  value: string,
  source: string,
  problems: UsageError[],
): string[] {
  const specs = value.split(",").map((spec) => spec.trim());
  if (specs.some((spec) => spec === "")) {
    problems.push(new UsageError(`Empty plugin spec in ${source} "${value}"`));
  }
  return specs.filter((spec) => spec !== "");
}

/** Milliseconds per duration unit, largest first (each at most once, in order). */
const UNITS: ReadonlyArray<[string, number]> = [
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
  ["ms", 1],
];

/**
 * Parse a duration: numbers with units `h`, `m`, `s`, `ms`, largest first
 * (`1m30s`, `1.5s`, `500ms`); a bare number is seconds. More than 0, at most
 * one hour.
 */
export function parseDuration(
  value: string | undefined,
  fallbackMs: number,
  what: string,
): number {
  if (value === undefined) return fallbackMs;
  const ms = durationMs(value.trim());
  if (ms === undefined) {
    throw new UsageError(
      `Invalid duration "${value}" for ${what}: use e.g. "500ms", "10s", "1m30s"`,
    );
  }
  if (ms <= 0 || ms > 3_600_000) {
    throw new UsageError(
      `Duration "${value}" for ${what} is out of range: more than 0, at most 1h`,
    );
  }
  return ms;
}

function durationMs(text: string): number | undefined {
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/gy)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== text) {
    return undefined;
  }
  let ms = 0;
  let last = -1;
  for (const [, number, unit] of parts) {
    const index = UNITS.findIndex(([name]) => name === unit);
    if (index <= last) return undefined; // "10s1m", "1s1s"
    last = index;
    ms += Number(number) * UNITS[index]![1];
  }
  return Math.round(ms);
}

function parseChoice<T>(
  value: string,
  choices: Readonly<Record<string, T>>,
  what: string,
): T {
  const choice = Object.hasOwn(choices, value.toLowerCase())
    ? choices[value.toLowerCase()]
    : undefined;
  if (choice === undefined) {
    throw new UsageError(
      `Invalid ${what} "${value}": use one of ${
        Object.keys(choices).join(", ")
      }`,
    );
  }
  return choice;
}

function emptyToUndefined(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

/** `istio-proxy` → `ISTIO_PROXY`: a plugin's part of its option variables. */
export function pluginEnvName(name: string): string {
  return name.toUpperCase().replaceAll("-", "_");
}

/**
 * Why plugin `name` may not load beside `others` (loaded or built-in names):
 * its option variables would overlap another's. `dapr-api` would read
 * `WRAPPER_PLUGIN_DAPR_API_TOKEN`, meant for `dapr`; `istio` would read
 * `WRAPPER_PLUGIN_ISTIO_PROXY_*`. Undefined when no name is a prefix of the
 * other followed by "-".
 */
export function optionClash(
  name: string,
  others: Iterable<string>,
): string | undefined {
  // Called with the built-ins' names: between loaded plugins, pluginOptions
  // gives each variable to the longest matching name.
  for (const other of others) {
    const [short, long] = name.length < other.length
      ? [name, other]
      : [other, name];
    if (short !== long && long.startsWith(`${short}-`)) {
      return `its option variables would overlap those of "${other}" (${PLUGIN_OPTION_PREFIX}${
        pluginEnvName(short)
      }_*): choose a name that neither starts with "${other}-" nor is the start of "${other}"`;
    }
  }
  return undefined;
}

/**
 * A plugin's options from `WRAPPER_PLUGIN_<NAME>_<OPTION>` variables, keyed by
 * camelCase option (`..._QUIT_URL` → `quitUrl`). A variable goes to the
 * loaded plugin with the longest matching name only: beside `foo-bar`,
 * `WRAPPER_PLUGIN_FOO_BAR_URL` is `foo-bar`'s, never `foo`'s `barUrl`.
 */
export function pluginOptions(
  env: Readonly<Record<string, string>>,
  name: string,
  loaded: readonly string[] = [],
): Record<string, string> {
  const prefixOf = (n: string) => `${PLUGIN_OPTION_PREFIX}${pluginEnvName(n)}_`;
  const prefix = prefixOf(name);
  const longer = loaded.map(prefixOf).filter((p) =>
    p.length > prefix.length && p.startsWith(prefix)
  );
  const options: Record<string, string> = Object.create(null);
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(prefix) || key.length === prefix.length) continue;
    if (longer.some((p) => key.startsWith(p))) continue;
    if (value.trim() === "") continue; // empty means unset, as for every setting
    const option = key.slice(prefix.length).toLowerCase()
      .replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    options[option] = value;
  }
  return options;
}

/**
 * `WRAPPER_*` variables that nothing reads: a typo, or options for a plugin
 * that is not loaded. Reported so a misconfiguration is never silent.
 */
export function unusedEnvVars(
  env: Readonly<Record<string, string>>,
  pluginNames: readonly string[],
): string[] {
  const prefixes = pluginNames.map((name) =>
    `${PLUGIN_OPTION_PREFIX}${pluginEnvName(name)}_`
  );
  return notSettings(env).filter((key) =>
    !prefixes.some((prefix) => key.startsWith(prefix))
  );
}

/**
 * Whether the inspector guard is wanted, from the raw variable, before the
 * configuration is read (the guard must be up within Deno's 500 ms): only a
 * value `readConfig` reads as off turns it off; a typo keeps it on, and
 * `readConfig` reports it.
 */
export function inspectorGuardWanted(value: string | undefined): boolean {
  const word = value?.toLowerCase() ?? "";
  return !(Object.hasOwn(SWITCH, word) && SWITCH[word] === false);
}
