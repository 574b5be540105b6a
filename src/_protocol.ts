/**
 * Messages between the host and a plugin's runtime, one JSON object per line
 * (or a Worker message): tagged unions on `kind`, versioned by
 * `PROTOCOL_VERSION`.
 * @module
 */
import type {
  ExitStatus,
  HookName,
  LogProperties,
  PluginOption,
  SidecarSettings,
} from "../mod.ts";
import { checkOptions, PROTOCOL_VERSION } from "./plugin_runtime.ts";

/** Log levels a plugin can use. */
export type PluginLogLevel = "debug" | "info" | "warn" | "error";

/** The data part of a hook context, sent to the Worker. */
export interface HookContextData {
  hook: HookName;
  command: string[];
  options: Record<string, string>;
  timeoutMs: number;
  sidecar: SidecarSettings;
  exit?: ExitStatus;
  durationMs?: number;
  started?: boolean;
}

/** Host → Worker. */
export type HostMessage =
  | {
    kind: "load";
    /** `PROTOCOL_VERSION` of the host. */
    protocol: number;
    url: string;
    /** The plugin's text, for a runtime that cannot read the host's blob: URLs. */
    code?: string;
    mediaType?: string;
    fallbackName: string;
    /** Hosts the sidecar helpers may reach. */
    allowedHosts: readonly string[];
  }
  /** End the hook calls under way (their `ctx.signal` aborts). */
  | { kind: "cancel"; reason: string }
  | { kind: "call"; hook: HookName; context: HookContextData };

const LEVELS: readonly string[] = ["debug", "info", "warn", "error"];

/**
 * A message from a plugin's runtime as the host may trust it, or undefined:
 * the runtime runs the plugin's code, which can post anything.
 */
export function checkWorkerMessage(data: unknown): WorkerMessage | undefined {
  if (data === null || typeof data !== "object") return undefined;
  const message = data as Record<string, unknown>;
  const text = (key: string) => typeof message[key] === "string";
  switch (message.kind) {
    case "loaded": {
      const { hooks } = message;
      const valid = message.protocol === PROTOCOL_VERSION &&
        Array.isArray(hooks) &&
        hooks.every((h) => h === "beforeStart" || h === "afterExit") &&
        (message.options === undefined ||
          typeof checkOptions(message.options) === "object");
      return valid ? data as WorkerMessage : undefined;
    }
    case "load-failed":
    case "failed":
      return text("message") ? data as WorkerMessage : undefined;
    case "done":
      return data as WorkerMessage;
    case "exit":
      return typeof message.code === "number"
        ? data as WorkerMessage
        : undefined;
    case "log": {
      const { level, properties } = message;
      const valid = LEVELS.includes(level as string) && text("message") &&
        properties !== null && typeof properties === "object";
      return valid ? data as WorkerMessage : undefined;
    }
    default:
      return undefined;
  }
}

/** Worker → host. */
export type WorkerMessage =
  | {
    kind: "loaded";
    protocol: number;
    name: unknown;
    hooks: HookName[];
    options?: Record<string, PluginOption>;
  }
  | { kind: "load-failed"; message: string }
  | { kind: "done" }
  | { kind: "failed"; message: string }
  | { kind: "exit"; code: number }
  | {
    kind: "log";
    level: PluginLogLevel;
    message: string;
    properties: LogProperties;
  };
