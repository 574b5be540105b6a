/**
 * Every wrapper setting, declared once: its variable, its flags, how its text
 * is read, its default (as a person would type it) and one line of help. This
 * table drives parsing (config.ts), `--help`, and a test that holds the
 * README's table to it.
 * @module
 */

/** How a setting's text is read. */
export type SettingKind =
  | "duration" // 500ms, 10s, 1m30s; bare seconds
  | "switch" // on/off, true/false, yes/no, 1/0
  | "choice" // one of `choices`
  | "text" // as given
  | "specs"; // comma-separated plugin specs

/** One setting. */
export interface SettingDef {
  /** Its variable. */
  readonly env: string;
  /** Its flags, if any (a flag wins over the variable). */
  readonly flags?: readonly string[];
  /** How its text is read. */
  readonly kind: SettingKind;
  /** The default, as typed (`10s`, `on`, `info`); `none` if there is none. */
  readonly default: string;
  /** For `choice`: each accepted word (lower case) and its value. */
  readonly choices?: Readonly<Record<string, unknown>>;
  /** One line for `--help` (without the default). */
  readonly help: string;
}

/** The log levels, by every name accepted. */
export const LOG_LEVELS = {
  debug: "debug",
  info: "info",
  warn: "warn",
  warning: "warn",
  error: "error",
  off: "off",
} as const;

/** The wrapper's settings. */
export const SETTINGS = {
  pluginPath: {
    env: "WRAPPER_PLUGIN_PATH",
    flags: ["-p", "--plugin", "--check-plugin"],
    kind: "specs",
    default: "none",
    help:
      "Plugin specs, comma-separated: file paths, https:// URLs, built-in names.",
  },
  pluginTimeout: {
    env: "WRAPPER_PLUGIN_TIMEOUT",
    flags: ["-t", "--timeout"],
    kind: "duration",
    default: "10s",
    help: "Deadline of each plugin load and each afterExit hook.",
  },
  logLevel: {
    env: "WRAPPER_LOG_LEVEL",
    flags: ["--log-level"],
    kind: "choice",
    default: "info",
    choices: LOG_LEVELS,
    help: "debug, info, warn, error or off.",
  },
  logFormat: {
    env: "WRAPPER_LOG_FORMAT",
    flags: ["--log-format"],
    kind: "choice",
    default: "text",
    choices: { text: "text", json: "json" },
    help: "text, or json (JSON Lines).",
  },
  hooks: {
    env: "WRAPPER_HOOKS",
    kind: "switch",
    default: "on",
    help: "off: load no plugin, just run the command.",
  },
  readyTimeout: {
    env: "WRAPPER_READY_TIMEOUT",
    kind: "duration",
    default: "60s",
    help: "Deadline of each beforeStart hook (readiness waits).",
  },
  readyPolicy: {
    env: "WRAPPER_READY_POLICY",
    kind: "choice",
    default: "start",
    choices: { start: "start", fail: "fail" },
    help:
      "A sidecar never ready, or absent: start (warn, run the command) or fail (do not start it: 125).",
  },
  absentAfter: {
    env: "WRAPPER_READY_ABSENT_AFTER",
    kind: "duration",
    default: "1s",
    help:
      "Under start with no pod metadata: refused this long, with no answer at all, means no sidecar.",
  },
  verifyTimeout: {
    env: "WRAPPER_QUIT_VERIFY_TIMEOUT",
    kind: "duration",
    default: "5s",
    help:
      "After a sidecar accepted the quit, how long its port may stay open before it is reported.",
  },
  quitOnFailure: {
    env: "WRAPPER_QUIT_ON_FAILURE",
    kind: "switch",
    default: "true",
    help:
      "false: skip afterExit hooks when the command failed (restartPolicy: OnFailure).",
  },
  nativeSidecars: {
    env: "WRAPPER_NATIVE_SIDECARS",
    kind: "switch",
    default: "false",
    help: "true: Kubernetes native sidecars; no readiness wait, no quit.",
  },
  fetchTimeout: {
    env: "WRAPPER_FETCH_TIMEOUT",
    kind: "duration",
    default: "30s",
    help: "Deadline to fetch one remote plugin, retries included.",
  },
  podinfoDir: {
    env: "WRAPPER_PODINFO_DIR",
    kind: "text",
    default: "/etc/podinfo",
    help:
      "The pod's downward API metadata: the sidecars it shows are waited for and told to quit (when set, it must exist).",
  },
  inspectorGuard: {
    env: "WRAPPER_INSPECTOR_GUARD",
    kind: "switch",
    default: "on",
    help:
      "off: under deno run, leave 127.0.0.1:9229 free; SIGUSR1 then opens Deno's inspector (compiled binaries have none).",
  },
  signalTarget: {
    env: "WRAPPER_SIGNAL_TARGET",
    kind: "choice",
    default: "auto",
    choices: { auto: "auto", process: "process", group: "group" },
    help:
      "Where signals are forwarded: process (the command), group (its whole process group, as tini -g), auto (group when stdin is a terminal, as a terminal would).",
  },
} as const satisfies Record<string, SettingDef>;

/** A setting's key. */
export type SettingKey = keyof typeof SETTINGS;
