/**
 * What a plugin's runtime answered, read as the host acts on it: pure
 * functions from a reply to a loaded plugin's name and hooks, or to a hook's
 * outcome. The transport that carries the replies is plugin_host.ts.
 * @module
 */
import type { HookName, PluginOption } from "../mod.ts";
import type { WorkerMessage } from "./_protocol.ts";
import { firstLine, PluginError } from "./errors.ts";
import { explainHookError, explainLoadError } from "./plugin_errors.ts";
import type { PluginLocation } from "./plugin_source.ts";
import { cut, safeJson } from "./plugin_runtime.ts";

/** A valid plugin name: it also names the plugin's option variables. */
export const PLUGIN_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
/** Names that would clash with the wrapper's own `WRAPPER_PLUGIN_*` variables or lines. */
export const RESERVED_PLUGIN_NAMES: readonly string[] = [
  "path",
  "timeout",
  "wrapper", // its lines would read as the wrapper's own
];

/** The answer to a request: a runtime's message, or what the transport saw. */
export type Reply =
  | Exclude<WorkerMessage, { kind: "log" }>
  | { kind: "crashed"; message: string }
  | { kind: "timeout" };

/** How a hook call ended. */
export type HookOutcome =
  | { ok: true }
  | {
    ok: false;
    reason: "failed" | "timeout" | "crashed" | "exited";
    message: string;
  };

/**
 * The name, hooks and declared options of a plugin that loaded; throws `PluginError` with the
 * reason when the reply says it did not, or is not a plugin.
 */
export function checkLoaded(
  reply: Reply,
  location: PluginLocation,
  loadTimeoutMs: number,
): {
  name: string;
  hooks: HookName[];
  options: Readonly<Record<string, PluginOption>> | undefined;
} {
  const fail = (reason: string) => new PluginError(location.spec, reason);
  switch (reply.kind) {
    case "loaded":
      break;
    case "load-failed": {
      const { url, kind, spec } = location;
      throw fail(explainLoadError(reply.message, {
        spec,
        where: url.protocol === "file:"
          ? decodeURIComponent(url.pathname)
          : url.href,
        file: kind === "file",
      }));
    }
    case "crashed":
      throw fail(firstLine(reply.message));
    case "timeout":
      throw fail(`did not load within ${loadTimeoutMs} ms`);
    case "exit":
      throw fail("called Deno.exit() while loading");
    default:
      throw fail(`unexpected "${reply.kind}" while loading`);
  }
  const { name, hooks, options } = reply; // checked by checkWorkerMessage
  if (typeof name !== "string" || !PLUGIN_NAME_PATTERN.test(name)) {
    throw fail(
      `invalid name ${
        cut(safeJson(name), 80)
      }: use lowercase letters, digits and "-", starting with a letter`,
    );
  }
  if (RESERVED_PLUGIN_NAMES.includes(name)) {
    throw fail(`the name "${name}" is reserved`);
  }
  // WRAPPER_PLUGIN_PATH_* and WRAPPER_PLUGIN_TIMEOUT_* are settings' names.
  const prefix = ["path-", "timeout-"].find((p) => name.startsWith(p));
  if (prefix !== undefined) {
    throw fail(
      `a name starting with "${prefix}" could never be given options: choose another`,
    );
  }
  if (hooks.length === 0) {
    throw fail("exports no hook (beforeStart or afterExit)");
  }
  return { name, hooks, options };
}

/** The outcome of a hook call from the runtime's reply to it. */
export function hookOutcome(reply: Reply, timeoutMs: number): HookOutcome {
  const failed =
    (reason: "failed" | "timeout" | "crashed" | "exited") =>
    (message: string): HookOutcome => ({ ok: false, reason, message });
  switch (reply.kind) {
    case "done":
      return { ok: true };
    case "failed":
      return failed("failed")(explainHookError(reply.message));
    case "timeout":
      return failed("timeout")(`no result within ${timeoutMs} ms`);
    case "exit":
      return failed("exited")(`called Deno.exit(${reply.code})`);
    case "crashed":
      return failed("crashed")(firstLine(reply.message));
    default:
      return failed("crashed")(`unexpected "${reply.kind}"`);
  }
}

/**
 * Whether a failed afterExit gets one fresh try: its runtime died as the hook
 * began (a timer of the plugin's ending it), and time is left. A quit sent
 * twice is harmless; one never sent leaves the pod running.
 */
export function retriesAfterExit(
  hook: HookName,
  outcome: HookOutcome,
  leftMs: number,
): boolean {
  return hook === "afterExit" && !outcome.ok && leftMs > 0 &&
    (outcome.reason === "crashed" || outcome.reason === "exited");
}
