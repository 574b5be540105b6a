/**
 * The plugin kit: unit-test a plugin in your own repository. `runHook` runs
 * one hook of a plugin file with the context the wrapper would give it — its
 * declared options checked and defaulted, a deadline, the sidecar helpers —
 * and captures its log lines; `standIn` is a sidecar on 127.0.0.1 for the
 * helpers to wait for and quit.
 *
 * ```ts ignore
 * import { runHook, standIn } from "https://…/wrapper/kit.ts";
 *
 * await using sidecar = standIn();
 * const result = await runHook("./my_plugin.ts", "afterExit", {
 *   options: { quitUrl: `${sidecar.url}/quit` },
 * });
 * if (!result.ok || sidecar.quits !== 1) throw new Error(result.error);
 * ```
 *
 * The hook runs in the test's own process, with the test's permissions: the
 * sandbox is the wrapper's (`wrapper --check-plugin <spec>` loads a plugin in
 * it).
 * @module
 */
import type { ExitStatus, HookName, SidecarSettings } from "./mod.ts";
import type { HookContextData, WorkerMessage } from "./src/_protocol.ts";
export type { ExitStatus, HookName, SidecarSettings } from "./mod.ts";
import { optionProblems, withDefaults } from "./src/plugin_options.ts";
import {
  LOOPBACK_HOSTS,
  pluginRuntime,
  PROTOCOL_VERSION,
  READY_PROGRESS_MS,
} from "./src/plugin_runtime.ts";
import { readConfig } from "./src/config.ts";

/** The wrapper's settings with no variable set: the context's defaults. */
const DEFAULTS = readConfig(["true"], {}).config;

/** What `runHook` gives the hook; everything has a default. */
export interface RunHookOptions {
  /** `ctx.options`, by camelCase name (before the declared defaults). */
  options?: Record<string, string>;
  /** `ctx.command`. @default ["true"] */
  command?: string[];
  /** The hook's deadline. @default 10_000 */
  timeoutMs?: number;
  /** `ctx.exit` of afterExit. @default code 0 */
  exit?: ExitStatus;
  /** `ctx.sidecar`, over the wrapper's defaults. */
  sidecar?: Partial<SidecarSettings>;
}

/** A captured log line of the plugin. */
export interface KitLogLine {
  /** `debug`, `info`, `warn` or `error`. */
  level: string;
  /** The line's message. */
  message: string;
  /** Its properties, as the wrapper would log them. */
  properties: Readonly<Record<string, unknown>>;
}

/** How the hook ended, and what it logged. */
export interface HookResult {
  /** The hook resolved in time. */
  ok: boolean;
  /** Why it did not: its error, the deadline, or a load or option problem. */
  error?: string;
  /** The plugin's log lines, in order. */
  logs: KitLogLine[];
}

/** Load the plugin at `path` (a file path or URL) and run `hook` once. */
export async function runHook(
  path: string | URL,
  hook: HookName,
  given: RunHookOptions = {},
): Promise<HookResult> {
  const url = new URL(path, `file://${Deno.cwd()}/`).href;
  const logs: KitLogLine[] = [];
  let reply: WorkerMessage | undefined;
  const receive = pluginRuntime((message) => {
    if (message.kind === "log") logs.push(message);
    else reply = message;
  });
  await receive({
    kind: "load",
    protocol: PROTOCOL_VERSION,
    url,
    fallbackName: "plugin",
    allowedHosts: LOOPBACK_HOSTS,
  });
  const loaded = reply;
  if (loaded?.kind !== "loaded") {
    return { ok: false, error: `cannot load: ${failure(loaded)}`, logs };
  }
  const name = String(loaded.name);
  const options = given.options ?? {};
  if (loaded.options !== undefined) {
    const problems = optionProblems(
      name,
      loaded.options,
      options,
      LOOPBACK_HOSTS,
    );
    if (problems.length > 0) return { ok: false, error: problems[0]!, logs };
  }
  if (!loaded.hooks.includes(hook)) {
    return { ok: false, error: `"${name}" has no ${hook} hook`, logs };
  }
  const call = context(hook, given, loaded.options);
  // As the wrapper does: past its deadline a hook has failed, even one that
  // never settles (its calls are then cancelled).
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) => {
    // A moment past the deadline: the hook's own signal fires at it, and a
    // hook that stops on it reports its own reason.
    timer = setTimeout(() => resolve("late"), call.timeoutMs + 500);
  });
  const ended = await Promise.race([
    receive({ kind: "call", hook, context: call }),
    late,
  ]);
  clearTimeout(timer);
  if (ended === "late") {
    await receive({ kind: "cancel", reason: "its deadline passed" });
    return { ok: false, error: `no result within ${call.timeoutMs} ms`, logs };
  }
  const ok = reply?.kind === "done";
  return ok ? { ok, logs } : { ok, error: failure(reply), logs };
}

function context(
  hook: HookName,
  given: RunHookOptions,
  declared: Extract<WorkerMessage, { kind: "loaded" }>["options"],
): HookContextData {
  return {
    hook,
    command: given.command ?? ["true"],
    options: withDefaults(declared, given.options ?? {}),
    timeoutMs: given.timeoutMs ?? DEFAULTS.hookTimeoutMs,
    sidecar: {
      absentAfterMs: DEFAULTS.absentAfterMs,
      verifyTimeoutMs: DEFAULTS.verifyTimeoutMs,
      native: false,
      injected: null,
      progressMs: READY_PROGRESS_MS,
      ...given.sidecar,
    },
    ...(hook === "afterExit"
      ? {
        exit: given.exit ?? { code: 0, signal: null, success: true },
        durationMs: 0,
        started: true,
      }
      : {}),
  };
}

function failure(message: WorkerMessage | undefined): string {
  if (message === undefined) return "no answer";
  if ("message" in message) return String(message.message);
  return message.kind;
}

/** A stand-in sidecar: ready at `/ready`, quits (and closes) on POST `/quit`. */
export interface StandIn extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** How many quits it received. */
  readonly quits: number;
  /** Stop it (done by `await using` too). */
  close(): Promise<void>;
}

/** Start a stand-in sidecar on 127.0.0.1, as the built-ins' sidecars answer. */
export function standIn(): StandIn {
  let quits = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/ready") return new Response("ready");
      if (path === "/quit" && request.method === "POST") {
        quits++;
        setTimeout(() => server.shutdown(), 0);
        return new Response("OK");
      }
      return new Response("not found", { status: 404 });
    },
  );
  const close = () => server.shutdown().catch(() => {});
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    get quits() {
      return quits;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
