/**
 * Logging: LogTape to stderr only, written synchronously so no line is lost
 * at `Deno.exit`. The only module that configures logging.
 * @module
 */
import {
  configureSync,
  getJsonLinesFormatter,
  getLogger,
  type Logger,
  type LogRecord,
  type Sink,
} from "npm:@logtape/logtape@2.4.2"; // full specifier: `deno run <url>` has no import map
import type { LogFormat, LogLevelSetting } from "./config.ts";

export type { Logger };

/** Root category of every wrapper log line; plugins log below it. */
export const ROOT_CATEGORY = "wrapper";

const SHORT_LEVEL: Record<string, string> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warning: "warn",
  error: "error",
  fatal: "fatal",
};

/** Logger for the wrapper itself. */
export function wrapperLogger(): Logger {
  return getLogger([ROOT_CATEGORY]);
}

/** Logger whose lines name the plugin as their source. */
export function pluginLogger(name: string): Logger {
  return getLogger([ROOT_CATEGORY, "plugin", name]);
}

/** Configure LogTape once: level, format, stderr. */
export function setupLogging(level: LogLevelSetting, format: LogFormat): void {
  const formatter = format === "json"
    ? getJsonLinesFormatter({ categorySeparator: "." })
    : formatText;
  configureSync({
    reset: true,
    sinks: { stderr: stderrSink(formatter) },
    loggers: [
      {
        category: [ROOT_CATEGORY],
        lowestLevel: level === "off" ? "fatal" : level,
        sinks: level === "off" ? [] : ["stderr"],
      },
      { category: ["logtape", "meta"], lowestLevel: "error", sinks: [] },
    ],
  });
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
  return line.replaceAll("\n", "\\n") + "\n";
}

function renderValue(value: unknown): string {
  if (typeof value === "string") {
    return /^[^\s"=]*$/.test(value) && value !== ""
      ? value
      : JSON.stringify(value);
  }
  if (value instanceof Error) return JSON.stringify(value.message);
  return JSON.stringify(value) ?? String(value);
}

const encoder = new TextEncoder();

/** Write all of `text` to stderr, synchronously. */
function writeStderr(text: string): void {
  const bytes = encoder.encode(text);
  let written = 0;
  while (written < bytes.length) {
    written += Deno.stderr.writeSync(bytes.subarray(written));
  }
}

function stderrSink(format: (record: LogRecord) => string): Sink {
  return (record) => writeStderr(format(record));
}

/** A one-line error before logging is configured (usage errors). */
export function writeStderrLine(line: string): void {
  writeStderr(line + "\n");
}
