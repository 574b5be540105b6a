/**
 * Logging: LogTape to stderr only, written synchronously so no line is lost.
 * The only module that configures logging.
 *
 * Importing LogTape from npm costs ~15–20 ms of start-up and ~7 MiB (Deno
 * initialises its npm support), and a wrapper without plugins usually logs
 * nothing; so LogTape is imported only when a line passes the level filter,
 * or in the background as soon as plugins that will likely log are configured
 * (`preloadLogging`, overlapping their loading). Lines logged before
 * it arrives are queued, in order; `flushLogs()` writes them before exit.
 * @module
 */
import type { LogRecord, Sink } from "npm:@logtape/logtape@2.4.2";
import type { LogFormat, LogLevelSetting } from "./config.ts";
import { MAX_LOG_CHARS } from "./log_budget.ts";
import { safeJson } from "./plugin_runtime.ts";

type LogTape = typeof import("./logtape.ts");

/** Root category of every wrapper log line; plugins log below it. */
export const ROOT_CATEGORY = "wrapper";

/** What library code logs with: a message and properties. */
export interface Logger {
  /** Troubleshooting detail. */
  debug(message: string, properties?: Record<string, unknown>): void;
  /** A lifecycle event. */
  info(message: string, properties?: Record<string, unknown>): void;
  /** Something went wrong; the job is unaffected. */
  warn(message: string, properties?: Record<string, unknown>): void;
  /** Something failed. */
  error(message: string, properties?: Record<string, unknown>): void;
}

type Level = keyof Logger;
const RANK: Record<Level | "off", number> = {
  debug: 0,
  info: 1,
  warn: 2,
  error: 3,
  off: 4,
};

const SHORT_LEVEL: Record<string, string> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warning: "warn",
  error: "error",
  fatal: "fatal",
};

let lowest: Level | "off" = "info";
let format: LogFormat = "text";
let logtape: LogTape | undefined;
let loading: Promise<void> | undefined;
const queue: Array<[string[], Level, string, Record<string, unknown>]> = [];

/** Set level and format; nothing is imported yet. */
export function setupLogging(
  level: LogLevelSetting,
  lineFormat: LogFormat,
): void {
  lowest = level;
  format = lineFormat;
}

/**
 * Start importing LogTape now, in the background, when plugins will likely
 * log (their lifecycle lines are info); at warn and above it waits for a line.
 */
export function preloadLogging(): void {
  if (RANK[lowest] <= RANK.info) loading ??= load();
}

/** Resolves once every line logged so far is written. */
export async function flushLogs(): Promise<void> {
  if (queue.length > 0) loading ??= load();
  await loading;
}

async function load(): Promise<void> {
  const module: LogTape = await import("./logtape.ts");
  module.configureSync({
    reset: true,
    sinks: {
      stderr: stderrSink(
        format === "json"
          ? module.getJsonLinesFormatter({ categorySeparator: "." })
          : formatText,
      ),
    },
    loggers: [
      { category: [ROOT_CATEGORY], lowestLevel: "debug", sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
  logtape = module;
  for (const [category, level, message, properties] of queue.splice(0)) {
    module.getLogger(category)[level](message, properties);
  }
}

function logger(category: string[]): Logger {
  const write =
    (level: Level) =>
    (message: string, properties: Record<string, unknown> = {}) => {
      if (RANK[level] < RANK[lowest]) return;
      // A message is text, never a LogTape template: `{a}` stays `{a}`.
      // LogTape reads a message with no "{" as it is, "}}" and all.
      const text = String(message);
      const literal = text.includes("{")
        ? text.replaceAll("{", "{{").replaceAll("}", "}}")
        : text;
      if (logtape !== undefined) {
        logtape.getLogger(category)[level](literal, properties);
        return;
      }
      queue.push([category, level, literal, properties]);
      loading ??= load();
    };
  return {
    debug: write("debug"),
    info: write("info"),
    warn: write("warn"),
    error: write("error"),
  };
}

/** Logger for the wrapper itself. */
export function wrapperLogger(): Logger {
  return logger([ROOT_CATEGORY]);
}

/** Logger whose lines name the plugin as their source. */
export function pluginLogger(name: string): Logger {
  return logger([ROOT_CATEGORY, "plugin", name]);
}

/** `[info istio-proxy] Requested sidecar shutdown status=200` */
export function formatText(record: LogRecord): string {
  const source = record.category.length > 1
    ? record.category.at(-1)
    : record.category[0];
  let line = `[${SHORT_LEVEL[record.level]} ${source}] `;
  record.message.forEach((part, i) => {
    line += i % 2 === 0 ? String(part) : renderValue(part);
  });
  for (const [key, value] of Object.entries(record.properties)) {
    line += ` ${key}=${renderValue(value)}`;
  }
  return escapeControls(line) + "\n";
}

const CONTROL_ESCAPES: Readonly<Record<string, string>> = {
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

/**
 * One line of plain text whatever a plugin logs: line breaks, control
 * characters (ESC, NUL, C1…), Unicode line separators and bidirectional
 * overrides are escaped, so no log line can forge another, drive the
 * terminal or read reversed.
 */
export function escapeControls(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex -- matching them is the point
    /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
    (c) =>
      CONTROL_ESCAPES[c] ??
        `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function renderValue(value: unknown): string {
  if (typeof value === "string") {
    return /^[^\s"=]*$/.test(value) && value !== ""
      ? value
      : JSON.stringify(value);
  }
  if (value instanceof Error) return JSON.stringify(value.message);
  return safeJson(value, MAX_LOG_CHARS);
}

const encoder = new TextEncoder();

/**
 * Write all of `text` to stderr, synchronously. A stderr that cannot be
 * written (a closed pipe) loses the line, never the wrapper's exit path.
 */
function writeStderr(text: string): void {
  const bytes = encoder.encode(text);
  try {
    let written = 0;
    while (written < bytes.length) {
      written += Deno.stderr.writeSync(bytes.subarray(written));
    }
  } catch {
    // Nowhere left to report it.
  }
}

function stderrSink(format: (record: LogRecord) => string): Sink {
  return (record) => writeStderr(format(record));
}

/** A one-line error before logging is configured (usage errors). */
export function writeStderrLine(line: string): void {
  writeStderr(line + "\n");
}
