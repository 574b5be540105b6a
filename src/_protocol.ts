/**
 * Messages between the host and a plugin's Worker: tagged unions on `kind`.
 * @module
 */
import type {
  ExitStatus,
  HookName,
  LogProperties,
  SidecarSettings,
} from "../mod.ts";

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
    url: string;
    fallbackName: string;
    /** Hosts the sidecar helpers may reach. */
    allowedHosts: readonly string[];
  }
  /** End the hook calls under way (their `ctx.signal` aborts). */
  | { kind: "cancel"; reason: string }
  | { kind: "call"; hook: HookName; context: HookContextData };

/** Worker → host. */
export type WorkerMessage =
  | { kind: "loaded"; name: unknown; hooks: HookName[] }
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
