/**
 * The API of `wrapper` plugins: the types a plugin implements. Types only,
 * with no imports: `wrapper --print-types > wrapper_types.ts` writes this
 * file, so a plugin type-checks offline and in CI.
 *
 * A plugin is one self-contained ES module that the wrapper runs in a process
 * of its own, allowed network access to localhost, 127.0.0.1 and [::1] only
 * (the built-ins, named by name, run in-process under the same loopback
 * rule). It can have no runtime imports (it is loaded from its text), so it
 * imports from here with `import type` only, which is erased:
 *
 * ```ts
 * import type { Plugin } from "./mod.ts";
 *
 * export default {
 *   name: "hello",
 *   afterExit(ctx) {
 *     ctx.log.info("The job ended", { code: ctx.exit.code });
 *   },
 * } satisfies Plugin;
 * ```
 *
 * @module
 */

/** When a hook runs: before the command starts, or after it ended. */
export type HookName = "beforeStart" | "afterExit";

/** How the command ended. */
export interface ExitStatus {
  /** The wrapper's exit code: the command's code, or 128 + n when killed by signal n. */
  readonly code: number;
  /** The signal that killed the command, or null when it exited by itself. */
  readonly signal: Deno.Signal | null;
  /** True when the code is 0. */
  readonly success: boolean;
}

/** Properties attached to a log line: JSON-like data. */
export type LogProperties = Readonly<Record<string, unknown>>;

/** A logger that writes through the wrapper, naming the plugin as the source. */
export interface PluginLogger {
  /** Detail for troubleshooting; shown with `WRAPPER_LOG_LEVEL=debug`. */
  debug(message: string, properties?: LogProperties): void;
  /** A lifecycle event. */
  info(message: string, properties?: LogProperties): void;
  /** Something went wrong but the job is unaffected. */
  warn(message: string, properties?: LogProperties): void;
  /** Something failed. */
  error(message: string, properties?: LogProperties): void;
}

/** What every hook receives. Read-only data plus helpers. */
export interface HookContext {
  /** Which hook this is. */
  readonly hook: HookName;
  /** The wrapped command and its arguments. */
  readonly command: readonly string[];
  /**
   * The plugin's options, from `WRAPPER_PLUGIN_<NAME>_<OPTION>` variables
   * (`WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL` → `quitUrl`). Always strings.
   */
  readonly options: Readonly<Record<string, string>>;
  /** Aborts when the hook's deadline is reached; pass it to `fetch`. */
  readonly signal: AbortSignal;
  /**
   * The hook's deadline in milliseconds: `WRAPPER_READY_TIMEOUT` for
   * `beforeStart`, `WRAPPER_PLUGIN_TIMEOUT` for `afterExit`.
   */
  readonly timeoutMs: number;
  /** Writes log lines to the wrapper's stderr. */
  readonly log: PluginLogger;
  /** The wrapper-wide sidecar settings the helpers below follow. */
  readonly sidecar: SidecarSettings;
  /**
   * Wait until `url` answers with an expected status (GET, 200 by default),
   * polling with backoff until `signal` aborts. Throws when the sidecar stays
   * absent (connection refused for `sidecar.absentAfterMs` with no answer) or
   * is not ready by the deadline, or when `url`'s host is not localhost,
   * 127.0.0.1 or [::1]. Returns at once when `url` is `""` or `"off"`, with
   * native sidecars, or when the pod's metadata shows no such sidecar.
   */
  waitReady(url: string, options?: ReadyOptions): Promise<void>;
  /**
   * Ask a sidecar to quit (POST, 200 by default), retrying transient errors
   * (network errors, 429, 5xx) up to 3 times, then check that its port closes
   * within `sidecar.verifyTimeoutMs`. Nothing listening is normal: one info
   * line; but when the pod's metadata shows the sidecar, it is waited for
   * until the deadline, since it may not have started yet. Throws when the quit is refused, the sidecar keeps running, or
   * `url`'s host is not loopback (as for `waitReady`). Returns at once when `url` is `""` or `"off"`, or with native sidecars.
   */
  quit(url: string, options?: QuitOptions): Promise<void>;
}

/**
 * What the sidecar helpers below know of this plugin's sidecar: the
 * wrapper-wide `WRAPPER_*` settings and the pod's own metadata.
 */
export interface SidecarSettings {
  /**
   * `WRAPPER_READY_ABSENT_AFTER`: refused this long with no answer means
   * absent. Null when there is no such shortcut and a late sidecar is waited
   * for until the deadline: the pod's metadata shows it, or
   * `WRAPPER_READY_POLICY=fail`.
   */
  readonly absentAfterMs: number | null;
  /** `WRAPPER_QUIT_VERIFY_TIMEOUT`: how long the port may stay open after a quit. */
  readonly verifyTimeoutMs: number;
  /**
   * A native sidecar, which the kubelet starts and stops:
   * `WRAPPER_NATIVE_SIDECARS`, or the pod's metadata shows it.
   */
  readonly native: boolean;
  /**
   * What the pod's metadata says: true, this sidecar was injected (waited
   * for however late, and told to quit even before it listens); false, the
   * pod has none (no wait); null, unknown (no metadata, or not a sidecar the
   * metadata can show).
   */
  readonly injected: boolean | null;
  /** How often a readiness wait logs that it is still waiting: 10 s. */
  readonly progressMs: number;
}

/** How `waitReady` asks. */
export interface ReadyOptions {
  /** HTTP method. @default "GET" */
  method?: string;
  /** Extra request headers. */
  headers?: Readonly<Record<string, string>>;
  /** Statuses that mean ready. @default [200] */
  expect?: readonly number[];
}

/** How `quit` asks, and how it explains a refusal. */
export interface QuitOptions {
  /** HTTP method. @default "POST" */
  method?: string;
  /** Extra request headers. */
  headers?: Readonly<Record<string, string>>;
  /** Statuses that mean the quit was accepted. @default [200] */
  expect?: readonly number[];
  /** Check that the sidecar's port closes after the quit. @default true */
  verify?: boolean;
  /** What an unexpected status means, for the error: `{ 404: "enable it with …" }`. */
  hints?: Readonly<Record<number, string>>;
  /** Added to the "nothing listening" line: why that may be. */
  absentHint?: string;
}

/** Context of `beforeStart`: the command has not started yet. */
export interface BeforeStartContext extends HookContext {
  /** Always `"beforeStart"`. */
  readonly hook: "beforeStart";
}

/** Context of `afterExit`: the command has ended. */
export interface AfterExitContext extends HookContext {
  /** Always `"afterExit"`. */
  readonly hook: "afterExit";
  /** How the command ended. */
  readonly exit: ExitStatus;
  /** How long the command ran, in milliseconds. */
  readonly durationMs: number;
  /**
   * Whether the command was started. False when it was not found or not
   * executable, when a beforeStart hook failed, or when a stop signal arrived
   * first; `exit` then holds the wrapper's own exit code.
   */
  readonly started: boolean;
}

/**
 * A plugin: a name and at least one hook. Default-export it from the module.
 * A hook that throws, rejects or passes its deadline is logged; it never
 * changes the wrapper's exit code.
 */
export interface Plugin {
  /** Lowercase letters, digits and dashes, starting with a letter: `istio-proxy`. */
  readonly name: string;
  /**
   * The options the plugin reads, by their `ctx.options` name: `quitUrl` is
   * set by `WRAPPER_PLUGIN_<NAME>_QUIT_URL`. When declared, they are checked
   * before the job starts: a `WRAPPER_PLUGIN_<NAME>_*` variable that is not
   * one of them, or a `loopback` option that is not a loopback URL, is a
   * usage error (exit 2; the sidecars are still told to quit). Defaults fill
   * `ctx.options`, and `--help` lists the built-ins' options from here.
   */
  readonly options?: Readonly<Record<string, PluginOption>>;
  /**
   * Runs before the command starts. If it throws or passes its deadline,
   * `WRAPPER_READY_POLICY` decides: `start` (the default) logs a warning and
   * starts the command; `fail` does not start it (exit 125).
   */
  beforeStart?(ctx: BeforeStartContext): void | Promise<void>;
  /** Runs after the command ended, concurrently with other plugins' hooks. */
  afterExit?(ctx: AfterExitContext): void | Promise<void>;
}

/** One option of a plugin, from `WRAPPER_PLUGIN_<NAME>_<OPTION>`. */
export interface PluginOption {
  /** One line: what it is, for `--help`. */
  readonly description: string;
  /** Its value when the variable is unset; none means `ctx.options` lacks it. */
  readonly default?: string;
  /** A URL the sidecar helpers call: it must be `http(s)://` on loopback. */
  readonly loopback?: boolean;
  /**
   * URLs the sidecar helpers call: comma-separated, or a JSON array of
   * objects with a `url`; each must be `http(s)://` on loopback.
   */
  readonly loopbackList?: boolean;
  /**
   * On or off (`true`/`false`, `on`/`off`, `yes`/`no`, `1`/`0`); the plugin
   * reads `"true"` or `"false"`.
   */
  readonly switch?: boolean;
}

/**
 * The shape of plugins for the Go program `wrapper` descends from: a module
 * exporting `getPlugin()` that returns an object with `run()`, which runs as
 * `afterExit`. The plugin's name is taken from its file name.
 */
export interface LegacyPlugin {
  /** Runs after the command ended. */
  run(ctx: AfterExitContext): void | Promise<void>;
}
