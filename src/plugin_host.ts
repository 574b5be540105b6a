/**
 * Where plugins run, and the transport to them. A plugin from a file or a URL
 * runs in an OS process of its own with network access to loopback only
 * (plugin_process.ts). A built-in named by name is part of the wrapper (the
 * same trust as this file) and runs in-process: no process, so it costs no
 * start-up time and no memory of its own; its sidecar helpers reach loopback
 * only, as in a process. Both speak the same messages to the same runtime
 * (plugin_runtime.ts). The host enforces a deadline on every load and hook
 * call, and a plugin that throws, hangs, busy-loops or exits is reported,
 * never fatal. What the replies mean is plugin_replies.ts.
 * @module
 */
import type { HookName, PluginOption } from "../mod.ts";
import {
  checkWorkerMessage,
  type HookContextData,
  type HostMessage,
  type WorkerMessage,
} from "./_protocol.ts";
import {
  after,
  LOOPBACK_HOSTS,
  pluginRuntime,
  PROTOCOL_VERSION,
  safeJson,
} from "./plugin_runtime.ts";
import type { ProcessPort } from "./plugin_process.ts";
import { PluginError } from "./errors.ts";
import {
  checkLoaded,
  type HookOutcome,
  hookOutcome,
  type Reply,
  retriesAfterExit,
} from "./plugin_replies.ts";
import {
  FLOOD_LIMIT,
  LOG_RATE_PER_SECOND,
  LogBudget,
  MAX_LOG_CHARS,
  MESSAGE_RATE_PER_SECOND,
  truncate,
} from "./log_budget.ts";
import { type Logger, pluginLogger } from "./log.ts";
import {
  importBuiltin,
  type PluginLocation,
  type PluginSource,
} from "./plugin_source.ts";

export type { HookOutcome } from "./plugin_replies.ts";

/**
 * The host waits this much past a hook's deadline, so that a plugin that
 * honours `ctx.signal` reports its own, clearer error first.
 */
export const DEADLINE_GRACE_MS = 250;

/** What the host needs of a runtime: a plugin process or an in-process one. */
interface PluginPort {
  postMessage(message: HostMessage): void;
  terminate(): void;
}

/** A built-in's runtime in the wrapper's own isolate, behind a process's messages. */
class InProcessPort implements PluginPort {
  #receive: (message: HostMessage) => Promise<void>;
  #closed = false;

  constructor(
    deliver: (message: WorkerMessage) => void,
    importModule?: (url: string) => Promise<unknown>,
  ) {
    // Delivered asynchronously, as a process's would be, never after close.
    this.#receive = pluginRuntime(
      (message) => queueMicrotask(() => this.#closed || deliver(message)),
      importModule,
    );
  }

  postMessage(message: HostMessage): void {
    if (!this.#closed) void this.#receive(message);
  }

  terminate(): void {
    if (this.#closed) return;
    void this.#receive({ kind: "cancel", reason: "plugin closed" });
    this.#closed = true;
  }
}

/** Options of `loadPlugin`. */
export interface LoadPluginOptions {
  /** Deadline for the module to load, in ms. */
  timeoutMs: number;
  /** Ends the load at once (a stop signal). */
  signal?: AbortSignal;
}

/**
 * Whether the plugin runs in-process from its module, a built-in beside this
 * one, imported by its file name so that `deno bundle` carries it (no
 * transpiler runs in the image): then its text is needed only for a pin.
 */
export function runsFromModule(location: PluginLocation): boolean {
  return location.kind === "builtin" && location.url.protocol === "file:";
}

/** The plugin processes' module, once a file or URL plugin is loaded. */
let processes: typeof import("./plugin_process.ts") | undefined;

/** Start a runtime for the plugin's text and check that it is a plugin. */
export async function loadPlugin(
  source: PluginSource,
  options: LoadPluginOptions,
): Promise<LoadedPlugin> {
  const { signal } = options;
  // Only file and URL plugins need it: a run with built-ins alone never loads it.
  if (source.location.kind !== "builtin") {
    processes ??= await import("./plugin_process.ts");
  }
  const plugin = new LoadedPlugin(source, options.timeoutMs);
  const interrupt = () => plugin.close(`interrupted by ${signal?.reason}`);
  if (signal?.aborted) throw new PluginError(plugin.spec, "interrupted");
  signal?.addEventListener("abort", interrupt, { once: true });
  try {
    return plugin.accept(await plugin.boot());
  } catch (error) {
    plugin.close();
    throw error;
  } finally {
    signal?.removeEventListener("abort", interrupt);
  }
}

/**
 * A plugin running in its runtime, ready for hook calls. A runtime that ended
 * (deadline passed, crashed, called `Deno.exit`) is replaced by a fresh one
 * from the same text before the next hook, so a stuck `beforeStart` cannot
 * keep `afterExit` from telling the sidecar to quit.
 */
export class LoadedPlugin {
  /** The spec it was loaded from. */
  readonly spec: string;
  #source: PluginSource;
  #loadTimeoutMs: number;
  #name: string;
  #hooks: HookName[] = [];
  #options: Readonly<Record<string, PluginOption>> | undefined;
  #port: PluginPort | undefined;
  #log: Logger;
  #settle: ((reply: Reply) => void) | undefined;
  #budget = new LogBudget();
  #messages = new LogBudget(() => performance.now(), MESSAGE_RATE_PER_SECOND);
  #dead = true;
  #warnedUnwatched = false;

  constructor(source: PluginSource, loadTimeoutMs: number) {
    this.spec = source.location.spec;
    this.#source = source;
    this.#loadTimeoutMs = loadTimeoutMs;
    this.#name = source.location.fallbackName;
    this.#log = pluginLogger(this.#name);
  }

  /**
   * How it runs: `"in-process"` (built-ins by name) or `"process"` (files
   * and URLs; in a compiled binary, the binary re-executed in plugin mode).
   */
  get isolation(): "in-process" | "process" {
    return this.#source.location.kind === "builtin" ? "in-process" : "process";
  }

  /** Start a fresh runtime (in-process or a process) and load the plugin. */
  async boot(loadTimeoutMs = this.#loadTimeoutMs): Promise<Reply> {
    const { code, mediaType, location } = this.#source;
    const inProcess = this.isolation === "in-process";
    // In-process, a built-in beside this module is imported as a module
    // (~3 ms less than a blob); a process gets the text itself.
    const file = runsFromModule(location)
      ? location.url.pathname.slice(location.url.pathname.lastIndexOf("/") + 1)
      : undefined;
    const blob = inProcess && file === undefined;
    const url = blob
      ? URL.createObjectURL(new Blob([code], { type: mediaType }))
      : location.url.href;
    this.#port = inProcess
      ? new InProcessPort(
        (message) => this.#receive(message),
        file === undefined ? undefined : () => importBuiltin(file),
      )
      : this.#startProcess();
    this.#dead = false;
    const reply = await this.request({
      kind: "load",
      protocol: PROTOCOL_VERSION,
      url,
      ...(inProcess ? {} : { code, mediaType }),
      fallbackName: location.fallbackName,
      allowedHosts: LOOPBACK_HOSTS,
    }, loadTimeoutMs);
    if (blob) URL.revokeObjectURL(url);
    return reply;
  }

  #startProcess(): ProcessPort {
    // Events of a process that was replaced by a fresh one are not this one's.
    const current = () => this.#port === port;
    if (processes === undefined) {
      throw new Error("plugin processes are started by loadPlugin() only");
    }
    const port: ProcessPort = new processes.ProcessPort({
      message: (data) => current() && this.#receive(data),
      stderr: (line) => {
        if (!current()) return;
        // Blank lines are not written, but count against the log budget.
        this.#writeLog({
          kind: "log",
          level: "warn",
          message: line,
          properties: {},
        }, line.trim() === "");
      },
      failed: (reason) =>
        current() && this.#fail({ kind: "crashed", message: reason }),
      unwatched: (reason) => {
        if (this.#warnedUnwatched) return;
        this.#warnedUnwatched = true;
        this.#log.warn(
          "The plugin's memory outside its V8 heap is not capped",
          { reason },
        );
      },
    });
    return port;
  }

  /** The plugin's declared name. */
  get name(): string {
    return this.#name;
  }

  /** The hooks it implements. */
  get hooks(): readonly HookName[] {
    return this.#hooks;
  }

  /** The options it declares, if it does. */
  get options(): Readonly<Record<string, PluginOption>> | undefined {
    return this.#options;
  }

  /** Send a message and wait for its reply, at most `timeoutMs`. */
  request(message: HostMessage, timeoutMs: number): Promise<Reply> {
    const port = this.#port;
    if (this.#dead || port === undefined) {
      return Promise.resolve({ kind: "crashed", message: "runtime has ended" });
    }
    return new Promise((resolve) => {
      const cancel = after(timeoutMs, () => {
        this.#settle = undefined;
        this.close();
        resolve({ kind: "timeout" });
      });
      this.#settle = (reply) => {
        cancel();
        this.#settle = undefined;
        resolve(reply);
      };
      port.postMessage(message);
    });
  }

  /** Check a load reply; throws `PluginError` when it is not a plugin. */
  accept(reply: Reply): this {
    const { name, hooks, options } = checkLoaded(
      reply,
      this.#source.location,
      this.#loadTimeoutMs,
    );
    this.#name = name;
    this.#hooks = hooks;
    this.#options = options;
    this.#log = pluginLogger(name);
    return this;
  }

  /** Run one hook. Never throws: the outcome says how it ended. */
  async call(
    hook: HookName,
    context: HookContextData,
    timeoutMs: number,
  ): Promise<HookOutcome> {
    const started = performance.now();
    const outcome = await this.#callOnce(hook, context, timeoutMs);
    const left = Math.floor(timeoutMs - (performance.now() - started));
    if (!retriesAfterExit(hook, outcome, left)) return outcome;
    this.#log.debug("Retrying afterExit in a fresh runtime", {
      error: (outcome as { message: string }).message,
      leftMs: left,
    });
    this.close();
    return await this.#callOnce(hook, context, left);
  }

  async #callOnce(
    hook: HookName,
    context: HookContextData,
    timeoutMs: number,
  ): Promise<HookOutcome> {
    if (this.#dead) {
      this.#log.debug("Restarting the plugin's runtime", { hook });
      const reply = await this.boot(Math.min(this.#loadTimeoutMs, timeoutMs));
      if (reply.kind !== "loaded") {
        this.close();
        return {
          ok: false,
          reason: "crashed",
          message: `runtime could not be restarted (${reply.kind})`,
        };
      }
    }
    const reply = await this.request(
      { kind: "call", hook, context },
      timeoutMs + DEADLINE_GRACE_MS,
    );
    return hookOutcome(reply, timeoutMs);
  }

  /** End the runtime; a request under way ends as "crashed" with `reason`. */
  close(reason = "runtime closed"): void {
    // Even a runtime that said it exited is ended: a process can run
    // `unload` listeners, busy, long after its exit message.
    this.#port?.terminate();
    if (this.#dead) return;
    this.#dead = true;
    this.#settle?.({ kind: "crashed", message: reason });
  }

  #receive(data: unknown): void {
    // Any message costs the host: past the rate, the runtime is flooding.
    if (!this.#messages.take() && this.#messages.dropped >= FLOOD_LIMIT) {
      this.close(`flooded the host with messages`);
      return;
    }
    const message = checkWorkerMessage(data);
    if (message === undefined) {
      // The plugin's own code posted it: what it waits for will not come.
      this.#fail({ kind: "crashed", message: "sent a malformed message" });
      return;
    }
    if (message.kind === "log") {
      this.#writeLog(message);
      return;
    }
    if (message.kind === "exit") {
      this.#dead = true;
      this.#port?.terminate(); // whatever it still runs, it is done
    }
    if (this.#settle !== undefined) this.#settle(message);
    else if (message.kind === "exit") {
      this.#log.warn("Plugin called Deno.exit() outside a hook", {
        code: message.code,
      });
    } else {
      // No request is under way: a runtime never sends this; its plugin does.
      this.#fail({
        kind: "crashed",
        message: `sent "${message.kind}" when no request was under way`,
      });
    }
  }

  /**
   * Write a plugin's log line within its budget (a `silent` one only counts);
   * end a flooding runtime.
   */
  #writeLog(
    line: Extract<WorkerMessage, { kind: "log" }>,
    silent = false,
  ): void {
    if (!this.#budget.take()) {
      if (this.#budget.dropped === 1) {
        this.#log.warn("Plugin logs too fast: dropping lines", {
          perSecond: LOG_RATE_PER_SECOND,
        });
      }
      if (this.#budget.dropped === FLOOD_LIMIT) {
        this.close(`flooded its log (${FLOOD_LIMIT} lines dropped)`);
      }
      return;
    }
    if (silent) return;
    // Through JSON: BigInt, cycles and the like render in either format.
    const json = safeJson(line.properties, MAX_LOG_CHARS);
    const parsed: unknown = json.length <= MAX_LOG_CHARS
      ? JSON.parse(json)
      : truncate(json);
    this.#log[line.level](
      truncate(line.message),
      parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)
        ? parsed as Record<string, unknown>
        : { properties: parsed },
    );
  }

  /**
   * The runtime failed: the request under way (if any) ends with it, and the
   * next hook gets a fresh runtime, so its quit is still sent.
   */
  #fail(reply: { kind: "crashed"; message: string }): void {
    if (this.#settle === undefined) {
      this.#log.warn("Plugin error outside a hook", { error: reply.message });
    }
    this.close(reply.message);
  }
}
