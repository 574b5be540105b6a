/**
 * Where plugins run. A plugin from a file or a URL runs in its own Worker,
 * started from a `blob:` URL, with network access to loopback only and
 * nothing else. A built-in named by name is part of the wrapper (the same
 * trust as this file) and runs in-process: no Worker, so it costs no start-up
 * time and no memory of its own; its sidecar helpers reach loopback only, as
 * in a Worker. Both speak the same messages to the same runtime
 * (_plugin_worker.ts). The host enforces a deadline on every load and hook
 * call, and a plugin that throws, hangs, busy-loops or exits is reported,
 * never fatal.
 * @module
 */
import type { HookName } from "../mod.ts";
import {
  checkWorkerMessage,
  type HookContextData,
  type HostMessage,
  type WorkerMessage,
} from "./_protocol.ts";
import { confine, pluginRuntime, workerMain } from "./_plugin_worker.ts";
import { ProcessPort } from "./plugin_process.ts";
import { firstLine, PluginError } from "./errors.ts";
import { explainHookError, explainLoadError } from "./plugin_errors.ts";
import {
  FLOOD_LIMIT,
  LOG_RATE_PER_SECOND,
  LogBudget,
  MAX_LOG_CHARS,
  MESSAGE_RATE_PER_SECOND,
  safeJson,
  truncate,
} from "./log_budget.ts";
import { after } from "./timer.ts";
import { type Logger, pluginLogger } from "./log.ts";
import type { PluginSource } from "./plugin_source.ts";

/** The hosts a plugin may connect to. */
export const LOOPBACK_HOSTS: readonly string[] = [
  "localhost",
  "127.0.0.1",
  "[::1]",
];

/** What a plugin's Worker may do: connect to loopback. Nothing else. */
export const PLUGIN_PERMISSIONS: Deno.PermissionOptionsObject = {
  net: [...LOOPBACK_HOSTS],
  read: false,
  write: false,
  env: false,
  run: false,
  ffi: false,
  sys: false,
  import: false,
};

/** A valid plugin name: it also names the plugin's option variables. */
export const PLUGIN_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
/** Names that would clash with the wrapper's own `WRAPPER_PLUGIN_*` variables. */
export const RESERVED_PLUGIN_NAMES: readonly string[] = ["path", "timeout"];

/**
 * The host waits this much past a hook's deadline, so that a plugin that
 * honours `ctx.signal` reports its own, clearer error first.
 */
export const DEADLINE_GRACE_MS = 250;

/** How a hook call ended. */
export type HookOutcome =
  | { ok: true }
  | {
    ok: false;
    reason: "failed" | "timeout" | "crashed" | "exited";
    message: string;
  };

type Reply =
  | Exclude<WorkerMessage, { kind: "log" }>
  | { kind: "crashed"; message: string }
  | { kind: "timeout" };

let harnessUrl: string | undefined;

/** What the host needs of a Worker; an in-process runtime offers the same. */
interface PluginPort {
  postMessage(message: HostMessage): void;
  terminate(): void;
}

/** A built-in's runtime in the wrapper's own isolate, behind Worker-like messages. */
class InProcessPort implements PluginPort {
  #receive: (message: HostMessage) => Promise<void>;
  #closed = false;

  constructor(deliver: (message: WorkerMessage) => void) {
    // Delivered asynchronously, as a Worker's would be, never after close.
    this.#receive = pluginRuntime(
      (message) => queueMicrotask(() => this.#closed || deliver(message)),
      after,
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

/** Start a Worker for the plugin's text and check that it is a plugin. */
export async function loadPlugin(
  source: PluginSource,
  options: LoadPluginOptions,
): Promise<LoadedPlugin> {
  const { signal } = options;
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
 * A plugin running in its Worker, ready for hook calls. A Worker that ended
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
  #port: PluginPort | undefined;
  #log: Logger;
  #settle: ((reply: Reply) => void) | undefined;
  #budget = new LogBudget();
  #messages = new LogBudget(() => performance.now(), MESSAGE_RATE_PER_SECOND);
  #dead = true;

  constructor(source: PluginSource, loadTimeoutMs: number) {
    this.spec = source.location.spec;
    this.#source = source;
    this.#loadTimeoutMs = loadTimeoutMs;
    this.#name = source.location.fallbackName;
    this.#log = pluginLogger(this.#name);
  }

  /**
   * How it runs: `"in-process"` (built-ins by name), `"process"` (files and
   * URLs under `deno run`), or `"worker"` (files and URLs in a compiled
   * binary, until it can re-execute itself as a plugin process).
   */
  get isolation(): "in-process" | "process" | "worker" {
    if (this.#source.location.kind === "builtin") return "in-process";
    return Deno.build.standalone ? "worker" : "process";
  }

  /** Start a fresh runtime (in-process, a process or a Worker) and load the plugin. */
  async boot(loadTimeoutMs = this.#loadTimeoutMs): Promise<Reply> {
    const { code, mediaType, location } = this.#source;
    const isolation = this.isolation;
    // In-process, a built-in beside this module is imported as it is (its
    // transpiled form is cached, ~3 ms less than a blob); a process gets the
    // text itself; a Worker, a blob.
    const blob = isolation === "worker" ||
      (isolation === "in-process" && location.url.protocol !== "file:");
    const url = blob
      ? URL.createObjectURL(new Blob([code], { type: mediaType }))
      : location.url.href;
    this.#port = isolation === "in-process"
      ? new InProcessPort((message) => this.#receive(message))
      : isolation === "process"
      ? this.#startProcess()
      : this.#startWorker();
    this.#dead = false;
    const reply = await this.request({
      kind: "load",
      url,
      ...(isolation === "process" ? { code, mediaType } : {}),
      fallbackName: location.fallbackName,
      allowedHosts: LOOPBACK_HOSTS,
    }, loadTimeoutMs);
    if (url.startsWith("blob:")) URL.revokeObjectURL(url);
    return reply;
  }

  #startProcess(): ProcessPort {
    // Events of a process that was replaced by a fresh one are not this one's.
    const current = () => this.#port === port;
    const port: ProcessPort = new ProcessPort({
      message: (data) => current() && this.#receive(data),
      stderr: (line) => {
        if (current() && line.trim() !== "") {
          this.#writeLog({
            kind: "log",
            level: "warn",
            message: line,
            properties: {},
          });
        }
      },
      failed: (reason) =>
        current() && this.#fail({ kind: "crashed", message: reason }),
    });
    return port;
  }

  #startWorker(): Worker {
    harnessUrl ??= URL.createObjectURL(
      new Blob([`(${workerMain})(${pluginRuntime}, ${after}, ${confine});`], {
        type: "application/javascript",
      }),
    );
    const worker = new Worker(harnessUrl, {
      type: "module",
      name: `plugin ${this.spec}`,
      deno: { permissions: PLUGIN_PERMISSIONS },
    });
    worker.onmessage = (event: MessageEvent<unknown>) =>
      this.#receive(event.data);
    worker.onerror = (event) => {
      event.preventDefault();
      this.#fail({ kind: "crashed", message: event.message });
    };
    worker.onmessageerror = () =>
      this.#fail({ kind: "crashed", message: "unreadable message" });
    return worker;
  }

  /** The plugin's declared name. */
  get name(): string {
    return this.#name;
  }

  /** The hooks it implements. */
  get hooks(): readonly HookName[] {
    return this.#hooks;
  }

  /** Send a message and wait for its reply, at most `timeoutMs`. */
  request(message: HostMessage, timeoutMs: number): Promise<Reply> {
    const port = this.#port;
    if (this.#dead || port === undefined) {
      return Promise.resolve({ kind: "crashed", message: "worker has ended" });
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
    const timeoutMs = this.#loadTimeoutMs;
    const fail = (reason: string) => new PluginError(this.spec, reason);
    switch (reply.kind) {
      case "loaded":
        break;
      case "load-failed": {
        const { url, kind } = this.#source.location;
        throw fail(explainLoadError(reply.message, {
          spec: this.spec,
          where: url.protocol === "file:"
            ? decodeURIComponent(url.pathname)
            : url.href,
          file: kind === "file",
        }));
      }
      case "crashed":
        throw fail(firstLine(reply.message));
      case "timeout":
        throw fail(`did not load within ${timeoutMs} ms`);
      case "exit":
        throw fail("called Deno.exit() while loading");
      default:
        throw fail(`unexpected "${reply.kind}" while loading`);
    }
    const { name, hooks } = reply; // hooks checked by checkWorkerMessage
    if (typeof name !== "string" || !PLUGIN_NAME_PATTERN.test(name)) {
      throw fail(
        `invalid name ${
          JSON.stringify(name)
        }: use lowercase letters, digits and "-", starting with a letter`,
      );
    }
    if (RESERVED_PLUGIN_NAMES.includes(name)) {
      throw fail(`the name "${name}" is reserved`);
    }
    if (hooks.length === 0) {
      throw fail("exports no hook (beforeStart or afterExit)");
    }
    this.#name = name;
    this.#hooks = hooks;
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
    // A runtime that died as afterExit began (a timer of the plugin's ending
    // it) gets one fresh try, within what is left of the same deadline: a
    // quit sent twice is harmless, one never sent leaves the pod running.
    const left = Math.floor(timeoutMs - (performance.now() - started));
    if (
      hook === "afterExit" && !outcome.ok && left > 0 &&
      (outcome.reason === "crashed" || outcome.reason === "exited")
    ) {
      this.#log.debug("Retrying afterExit in a fresh runtime", {
        error: outcome.message,
        leftMs: left,
      });
      this.close();
      return await this.#callOnce(hook, context, left);
    }
    return outcome;
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
          message: `worker could not be restarted (${reply.kind})`,
        };
      }
    }
    const reply = await this.request(
      { kind: "call", hook, context },
      timeoutMs + DEADLINE_GRACE_MS,
    );
    switch (reply.kind) {
      case "done":
        return { ok: true };
      case "failed":
        return {
          ok: false,
          reason: "failed",
          message: explainHookError(reply.message),
        };
      case "timeout":
        return {
          ok: false,
          reason: "timeout",
          message: `no result within ${timeoutMs} ms`,
        };
      case "exit":
        return {
          ok: false,
          reason: "exited",
          message: `called Deno.exit(${reply.code})`,
        };
      case "crashed":
        return {
          ok: false,
          reason: "crashed",
          message: firstLine(reply.message),
        };
      default:
        return {
          ok: false,
          reason: "crashed",
          message: `unexpected "${reply.kind}"`,
        };
    }
  }

  /**
   * End the Worker; a request under way ends as "crashed" with `reason`.
   * A busy-looping Worker keeps its thread until `Deno.exit`.
   */
  close(reason = "worker closed"): void {
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
    }
  }

  /** Write a plugin's log line within its budget; end a flooding runtime. */
  #writeLog(line: Extract<WorkerMessage, { kind: "log" }>): void {
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
    // Through JSON: BigInt, cycles and the like render in either format.
    const json = safeJson(line.properties);
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
