/**
 * Command line and `WRAPPER_*` environment, parsed once into a `Config`.
 * Flags come before the command; everything from the command on is its own.
 * @module
 */
import { UsageError } from "./errors.ts";

/** How much the wrapper logs. */
export type LogLevelSetting = "debug" | "info" | "warning" | "error" | "off";
/** How the wrapper's log lines look. */
export type LogFormat = "text" | "json";

/** Everything the wrapper needs to know, resolved from flags then env. */
export interface Config {
  /** What to do: run the command, or print help or version. */
  action: "run" | "help" | "version";
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
}

/** `fail`: do not start the command (exit 125); `start`: warn and start it. */
export type ReadyPolicy = "fail" | "start";

/** Defaults of the duration settings, in ms. */
export const DEFAULTS = {
  hookTimeoutMs: 10_000,
  readyTimeoutMs: 60_000,
  absentAfterMs: 1_000,
  verifyTimeoutMs: 5_000,
  fetchTimeoutMs: 30_000,
} as const;

/** The environment variables the wrapper itself reads. */
export const ENV_VARS = {
  pluginPath: "WRAPPER_PLUGIN_PATH",
  pluginTimeout: "WRAPPER_PLUGIN_TIMEOUT",
  logLevel: "WRAPPER_LOG_LEVEL",
  logFormat: "WRAPPER_LOG_FORMAT",
  hooks: "WRAPPER_HOOKS",
  readyTimeout: "WRAPPER_READY_TIMEOUT",
  readyPolicy: "WRAPPER_READY_POLICY",
  absentAfter: "WRAPPER_READY_ABSENT_AFTER",
  verifyTimeout: "WRAPPER_QUIT_VERIFY_TIMEOUT",
  quitOnFailure: "WRAPPER_QUIT_ON_FAILURE",
  nativeSidecars: "WRAPPER_NATIVE_SIDECARS",
  fetchTimeout: "WRAPPER_FETCH_TIMEOUT",
} as const;

/** Prefix of plugin option variables: `WRAPPER_PLUGIN_<NAME>_<OPTION>`. */
export const PLUGIN_OPTION_PREFIX = "WRAPPER_PLUGIN_";

const LEVELS: Record<string, LogLevelSetting> = {
  debug: "debug",
  info: "info",
  warn: "warning",
  warning: "warning",
  error: "error",
  off: "off",
};

const VALUE_OPTIONS = new Map<string, keyof typeof ENV_VARS>([
  ["-p", "pluginPath"],
  ["--plugin", "pluginPath"],
  ["-t", "pluginTimeout"],
  ["--timeout", "pluginTimeout"],
  ["--log-level", "logLevel"],
  ["--log-format", "logFormat"],
]);

/** Parse `args` (options, then the command) and `env` into a `Config`. */
export function parseConfig(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): Config {
  const flagPlugins: string[] = [];
  const flags: Partial<Record<keyof typeof ENV_VARS, string>> = {};
  let action: Config["action"] = "run";
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
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1;
    const name = eq === -1 ? arg : arg.slice(0, eq);
    const key = VALUE_OPTIONS.get(name);
    if (key === undefined) throw new UsageError(`Unknown option "${name}"`);
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (i + 1 < args.length) value = args[++i];
    if (value === undefined) {
      throw new UsageError(`Option "${name}" needs a value`);
    }
    if (key === "pluginPath") flagPlugins.push(...splitSpecs(value, name));
    else flags[key] = value;
  }
  const command = args.slice(i);
  if (action === "run" && command.length === 0) {
    throw new UsageError("No command given");
  }
  if (action === "run" && command[0] === "") {
    throw new UsageError("The command is an empty string");
  }

  const fromEnv = (key: keyof typeof ENV_VARS) =>
    flags[key] ?? emptyToUndefined(env[ENV_VARS[key]]);
  const duration = (key: keyof typeof ENV_VARS, fallbackMs: number) =>
    parseDuration(fromEnv(key), fallbackMs, ENV_VARS[key]);
  const onOff = (key: keyof typeof ENV_VARS, fallback: boolean) =>
    parseSwitch(fromEnv(key), fallback, ENV_VARS[key]);
  const plugins = [...flagPlugins];
  const envPath = env[ENV_VARS.pluginPath];
  if (envPath !== undefined && envPath.trim() !== "") {
    for (const spec of splitSpecs(envPath, ENV_VARS.pluginPath)) {
      if (!plugins.includes(spec)) plugins.push(spec);
    }
  }
  return {
    action,
    command,
    plugins,
    hookTimeoutMs: duration("pluginTimeout", DEFAULTS.hookTimeoutMs),
    logLevel: parseChoice(fromEnv("logLevel") ?? "info", LEVELS, "log level"),
    logFormat: parseChoice(
      fromEnv("logFormat") ?? "text",
      { text: "text", json: "json" } as const,
      "log format",
    ),
    hooks: onOff("hooks", true),
    readyTimeoutMs: duration("readyTimeout", DEFAULTS.readyTimeoutMs),
    readyPolicy: parseChoice(
      fromEnv("readyPolicy") ?? "start",
      { fail: "fail", start: "start" } as const,
      ENV_VARS.readyPolicy,
    ),
    absentAfterMs: duration("absentAfter", DEFAULTS.absentAfterMs),
    verifyTimeoutMs: duration("verifyTimeout", DEFAULTS.verifyTimeoutMs),
    quitOnFailure: onOff("quitOnFailure", true),
    nativeSidecars: onOff("nativeSidecars", false),
    fetchTimeoutMs: duration("fetchTimeout", DEFAULTS.fetchTimeoutMs),
  };
}

const SWITCH: Record<string, boolean> = {
  true: true,
  on: true,
  yes: true,
  "1": true,
  false: false,
  off: false,
  no: false,
  "0": false,
};

function parseSwitch(
  value: string | undefined,
  fallback: boolean,
  what: string,
): boolean {
  return value === undefined ? fallback : parseChoice(value, SWITCH, what);
}

/** Split a comma-separated list of plugin specs; empty entries are errors. */
export function splitSpecs(value: string, source: string): string[] {
  const specs = value.split(",").map((spec) => spec.trim());
  if (specs.some((spec) => spec === "")) {
    throw new UsageError(`Empty plugin spec in ${source} "${value}"`);
  }
  return specs;
}

/**
 * Parse a duration: a number with unit `ms`, `s` or `m`; a bare number is
 * seconds. Must be more than 0 and at most one hour.
 */
export function parseDuration(
  value: string | undefined,
  fallbackMs: number,
  what: string,
): number {
  if (value === undefined) return fallbackMs;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (match === null) {
    throw new UsageError(
      `Invalid duration "${value}" for ${what}: use e.g. "500ms", "10s", "1m"`,
    );
  }
  const scale = { ms: 1, s: 1000, m: 60_000 }[match[2] ?? "s"]!;
  const ms = Math.round(Number(match[1]) * scale);
  if (ms <= 0 || ms > 3_600_000) {
    throw new UsageError(
      `Duration "${value}" for ${what} is out of range: more than 0, at most 1h`,
    );
  }
  return ms;
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
 * A plugin's options from `WRAPPER_PLUGIN_<NAME>_<OPTION>` variables, keyed by
 * camelCase option (`..._QUIT_URL` → `quitUrl`).
 */
export function pluginOptions(
  env: Readonly<Record<string, string>>,
  name: string,
): Record<string, string> {
  const prefix = `${PLUGIN_OPTION_PREFIX}${pluginEnvName(name)}_`;
  const options: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith(prefix) || key.length === prefix.length) continue;
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
  const known = new Set<string>(Object.values(ENV_VARS));
  const prefixes = pluginNames.map((name) =>
    `${PLUGIN_OPTION_PREFIX}${pluginEnvName(name)}_`
  );
  return Object.keys(env).filter((key) =>
    key.startsWith("WRAPPER_") && !known.has(key) &&
    !prefixes.some((prefix) => key.startsWith(prefix))
  ).sort();
}
