/**
 * The plugin runtime: loads one plugin module and runs its hooks, talking to
 * its host only by messages. An ordinary module that imports types only, so
 * that its text alone is a program:
 *
 * - built-ins named by name run in the wrapper's isolate: the host imports
 *   `pluginRuntime` from here (plugin_host.ts);
 * - a file or URL plugin runs in a process of its own (plugin_process.ts):
 *   under `deno run`, this module's text is that process's main module (a
 *   `data:` URL, as plugins are loaded from their text); in a compiled
 *   binary, the binary re-executed in plugin mode starts it as a
 *   loopback-only Worker (plugin_mode.ts).
 *
 * It also holds the few rules the host shares with it (timers, the retry
 * policy, error text, JSON for any value), so that each exists once.
 * @module
 */
import type {
  HostMessage,
  PluginLogLevel,
  WorkerMessage,
} from "./_protocol.ts";
import type {
  HookName,
  PluginLogger,
  PluginOption,
  QuitOptions,
  ReadyOptions,
  SidecarSettings,
} from "../mod.ts";

// --- Rules shared with the host ----------------------------------------------

/**
 * The version of the messages between host and runtime (src/_protocol.ts):
 * both say it at load, and a mismatch is a load failure, never a guess.
 */
export const PROTOCOL_VERSION = 1;

/**
 * Call `then` after `ms`; returns a function that cancels the call. Not
 * `setTimeout`: in Deno 2.9 the first `setTimeout` in an isolate costs ~7 ms
 * (its timers load lazily), the first `AbortSignal.timeout` ~0.5 ms.
 */
export function after(ms: number, then: () => void): () => void {
  const timer = AbortSignal.timeout(ms);
  timer.addEventListener("abort", then, { once: true });
  return () => timer.removeEventListener("abort", then);
}

/** Resolve after `ms`; reject with `signal`'s reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const abort = () => {
      cancel();
      reject(signal!.reason);
    };
    const cancel = after(ms, () => {
      signal?.removeEventListener("abort", abort);
      resolve();
    });
    signal?.addEventListener("abort", abort, { once: true });
  });
}

/**
 * The retry policy, one for the whole wrapper. An HTTP answer worth asking
 * again: 408, 429 and 5xx but 501 (a server that cannot, not one that is busy).
 */
export function isTransientStatus(status: number): boolean {
  return status === 408 || status === 429 ||
    (status >= 500 && status <= 599 && status !== 501);
}

/** The wait before retry `attempt` (1, 2…): doubling from `firstMs` up to `maxMs`. */
export function backoff(
  attempt: number,
  firstMs: number,
  maxMs: number,
): number {
  return Math.min(firstMs * 2 ** Math.min(attempt - 1, 30), maxMs);
}

/** True when a connection was refused: nothing listens there (yet). */
export function isRefused(error: unknown): boolean {
  return error instanceof Deno.errors.ConnectionRefused ||
    /connection refused/i.test(
      String((error as Error | undefined)?.cause ?? error),
    );
}

/**
 * An error as one line of text. A plugin's error may be anything, even one
 * whose getters throw: this never throws (an uncaught error would print a
 * stack on the job's stderr).
 */
export function describe(error: unknown): string {
  try {
    return error instanceof Error
      ? `${error.name}: ${error.message}`
      : String(error);
  } catch {
    return "an error that cannot be read (its name, message or toString throws)";
  }
}

/**
 * The first `max` characters of a response's body, the rest cancelled: a
 * body of any size costs at most one more chunk.
 */
export async function readStart(
  response: Response,
  max: number,
): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return "";
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (text.length < max) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return text.slice(0, max);
}

/** `text` cut to `max` characters, saying how much was cut. */
export function cut(text: string, max: number): string {
  return text.length <= max
    ? text
    : `${text.slice(0, max)}… (${text.length - max} more characters)`;
}

/**
 * JSON for any value: BigInt as a string, a cycle as "[Circular]", an error
 * as its name and message, strings cut to `maxString` characters (so a huge
 * one costs no serialisation), anything that cannot be read as a string
 * saying why. Never throws.
 */
export function safeJson(value: unknown, maxString = Infinity): string {
  const seen = new WeakSet<object>();
  try {
    return JSON.stringify(value, (_key, item: unknown) => {
      if (typeof item === "bigint") return `${item}n`;
      if (typeof item === "string") return cut(item, maxString);
      if (item instanceof Error) return describe(item);
      if (item !== null && typeof item === "object") {
        if (seen.has(item)) return "[Circular]";
        seen.add(item);
      }
      return item;
    }) ?? JSON.stringify(String(value));
  } catch (error) {
    return JSON.stringify(`[unreadable: ${describe(error)}]`);
  }
}

/** The hosts a plugin may connect to: its own pod's loopback. */
export const LOOPBACK_HOSTS: readonly string[] = [
  "localhost",
  "127.0.0.1",
  "[::1]",
];

/** Whether `value` is an http(s) URL on loopback (or `off`, no URL at all). */
export function isLoopbackUrl(value: string): boolean {
  if (value === "off") return true;
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") &&
      LOOPBACK_HOSTS.includes(url.hostname);
  } catch {
    return false;
  }
}

/** How often a readiness wait logs that it is still waiting. */
export const READY_PROGRESS_MS = 10_000;

/**
 * The pause between readiness polls: 10 ms for the first 10 s (a sidecar
 * usually turns ready within them, and the job starts at most ~10 ms after
 * it does: the sidecar answers ~100 requests a second meanwhile, on
 * loopback), then 100 ms (10 a second) for a sidecar that is slow to come.
 */
export function readyPollMs(waitedMs: number): number {
  return waitedMs < 10_000 ? 10 : 100;
}

/** Longest one readiness or quit attempt waits for an answer. */
export const ATTEMPT_MS = 2000;

/** Most options a plugin may declare. */
export const MAX_OPTIONS = 64;
const OPTION_NAME = /^[a-z][a-zA-Z0-9]{0,62}$/;

/**
 * A plugin's declared options as plain data, or why they are not valid.
 * The runtime checks what the plugin exports; the host checks again what a
 * runtime sends (it runs the plugin's code, which can post anything).
 */
export function checkOptions(
  value: unknown,
): Record<string, PluginOption> | string {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return "options must be an object of { description, default?, loopback? }";
  }
  const entries = Object.entries(value);
  if (entries.length > MAX_OPTIONS) return `more than ${MAX_OPTIONS} options`;
  const options: Record<string, PluginOption> = {};
  for (const [name, option] of entries) {
    const where = `option ${cut(safeJson(name), 40)}`;
    if (!OPTION_NAME.test(name)) {
      return `${where}: a name is camelCase letters and digits (quitUrl)`;
    }
    const { description, default: fallback, loopback } = option ?? {};
    const { loopbackList, switch: onOff } = option ?? {};
    if (typeof description !== "string" || description.length > 200) {
      return `${where}: description must be a string of at most 200 characters`;
    }
    if (fallback !== undefined && typeof fallback !== "string") {
      return `${where}: default must be a string`;
    }
    for (
      const [flag, value] of Object.entries({
        loopback,
        loopbackList,
        switch: onOff,
      })
    ) {
      if (value !== undefined && typeof value !== "boolean") {
        return `${where}: ${flag} must be true or false`;
      }
    }
    if (loopback && fallback !== undefined && !isLoopbackUrl(fallback)) {
      return `${where}: its default ${
        cut(safeJson(fallback), 80)
      } is not an http(s) URL on ${LOOPBACK_HOSTS.join(", ")}`;
    }
    options[name] = {
      description,
      ...(fallback === undefined ? {} : { default: cut(fallback, 4096) }),
      ...(loopback === undefined ? {} : { loopback }),
      ...(loopbackList === undefined ? {} : { loopbackList }),
      ...(onOff === undefined ? {} : { switch: onOff }),
    };
  }
  return options;
}

// --- The runtime ---------------------------------------------------------------

type Hook = (ctx: unknown) => unknown;

/** Settings for warming the sidecar helpers up: they are never used. */
const IDLE_SIDECAR: SidecarSettings = {
  absentAfterMs: null,
  verifyTimeoutMs: 0,
  native: false,
  injected: null,
  progressMs: READY_PROGRESS_MS,
};

/**
 * Take from the plugin's realm what would reach past its runtime: the
 * process's standard streams (a Worker needs no permission for them; a
 * plugin process talks to the host on them), `console.*` (becomes log
 * lines) and `Deno.exit`/`close` (the host is told first).
 */
export function confine(post: (message: WorkerMessage) => void): void {
  const exit = Deno.exit;
  Object.defineProperty(Deno, "exit", {
    value: (code?: number) => {
      post({ kind: "exit", code: code ?? 0 });
      exit(code);
    },
  });
  const scope = globalThis as unknown as { close?: () => void };
  const close = scope.close;
  if (typeof close === "function") {
    Object.defineProperty(globalThis, "close", {
      value: () => {
        post({ kind: "exit", code: 0 });
        close();
      },
    });
  }
  // console.* becomes a log line of the plugin on the wrapper's stderr.
  // Methods with no level of their own (count, time, group, table…) print
  // nothing.
  const levels: Record<string, PluginLogLevel> = {
    debug: "debug",
    trace: "debug",
    log: "info",
    info: "info",
    dir: "info",
    warn: "warn",
    error: "error",
  };
  const text = (args: unknown[]) =>
    args.map((arg) => typeof arg === "string" ? arg : Deno.inspect(arg))
      .join(" ");
  const quiet = console as unknown as Record<string, unknown>;
  for (const key of Object.keys(quiet)) {
    if (typeof quiet[key] !== "function") continue;
    const level = levels[key];
    quiet[key] = level === undefined
      ? () => {}
      : (...args: unknown[]) =>
        post({ kind: "log", level, message: text(args), properties: {} });
  }
  quiet.assert = (condition: unknown, ...args: unknown[]) => {
    if (condition) return;
    post({
      kind: "log",
      level: "error",
      message: text(["Assertion failed", ...args]),
      properties: {},
    });
  };
  for (const stream of ["stdin", "stdout", "stderr"]) {
    Object.defineProperty(Deno, stream, {
      get() {
        throw new Error(
          `Deno.${stream} is the job's: a plugin writes with ctx.log`,
        );
      },
    });
  }
}

/**
 * Serve one plugin over a channel: `post` sends to the host; the function
 * returned takes the host's messages. An error no hook caught (a throw in a
 * timer) fails the hook under way, as its own throw would, and the runtime
 * lives on for the next hook.
 */
function serve(
  post: (message: WorkerMessage) => void,
): (message: HostMessage) => void {
  let calls = 0; // hook calls under way
  const send = (message: WorkerMessage) => {
    if (message.kind === "done" || message.kind === "failed") calls = 0;
    post(message);
  };
  const uncaught = (reason: unknown) => {
    const text = describe(reason);
    if (calls > 0) send({ kind: "failed", message: `Uncaught ${text}` });
    else send({ kind: "log", level: "error", message: text, properties: {} });
  };
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    uncaught(event.error);
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    uncaught(event.reason);
  });
  const receive = pluginRuntime(send);
  return (message) => {
    if (message.kind === "call") calls++;
    void receive(message);
  };
}

/** A plugin process under `deno run`: one JSON message per line, stdin and stdout. */
function processMain(): void {
  const encoder = new TextEncoder();
  // The real streams, taken before confine() puts them out of the plugin's reach.
  const { stdin, stdout } = Deno;
  const post = (message: WorkerMessage) => {
    let line = safeJson(message);
    if (!line.startsWith("{")) {
      line = JSON.stringify({
        kind: "log",
        level: "warn",
        message: "a message the plugin sent could not be serialized",
        properties: {},
      });
    }
    const bytes = encoder.encode(line + "\n");
    for (let n = 0; n < bytes.length;) n += stdout.writeSync(bytes.subarray(n));
  };
  confine(post);
  const receive = serve(post);
  void readLines(stdin, (line) => receive(JSON.parse(line)))
    .finally(() => Deno.exit(0)); // the host has gone
}

/**
 * Call `onLine` with each line of UTF-8 text read from `input` (the host's
 * messages). Read directly, not through a stream: ~0.3 ms less per message
 * on the path from the job's exit to the quit.
 */
export async function readLines(
  input: { read(buffer: Uint8Array): Promise<number | null> },
  onLine: (line: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  const chunk = new Uint8Array(65536);
  let buffer = "";
  for (let size; (size = await input.read(chunk)) !== null;) {
    buffer += decoder.decode(chunk.subarray(0, size), { stream: true });
    for (let at = buffer.indexOf("\n"); at !== -1; at = buffer.indexOf("\n")) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      onLine(line);
    }
  }
}

/** A plugin Worker (in a compiled binary's plugin mode): its messages. */
function workerMain(): void {
  const scope = globalThis as unknown as {
    postMessage(message: WorkerMessage): void;
    onmessage: ((event: MessageEvent<HostMessage>) => void) | null;
  };
  const post = (message: WorkerMessage) => scope.postMessage(message);
  confine(post);
  const receive = serve(post);
  scope.onmessage = ({ data }) => receive(data);
}

/**
 * Run one plugin: returns the function that takes the host's messages; its
 * promise settles when the message is handled, and never rejects.
 */
export function pluginRuntime(
  post: (message: WorkerMessage) => void,
  importModule: (url: string) => Promise<unknown> = (url) => import(url),
): (message: HostMessage) => Promise<void> {
  // The first fetch in a fresh isolate spends ~12 ms setting fetch up. Pay it
  // while the job runs — 20 ms after it started, so an instant job pays
  // nothing — not when it has ended and a sidecar waits for its quit.
  // A data: URL sends nothing anywhere.
  let warm: Promise<unknown> | undefined; // until it has settled
  let cancelWarm = () => {};
  const warmSoon = () => {
    cancelWarm = after(20, () => {
      warm = fetch("data:,").then((r) => r.arrayBuffer()).catch(() => {})
        .finally(() => warm = undefined);
      // V8 compiles a function on its first call: calling the helpers with
      // "off" (which sends nothing) compiles them now, not at the quit.
      const tools = sidecarTools(AbortSignal.abort(), 0, IDLE_SIDECAR, log);
      void tools.quit("off");
      void tools.waitReady("off");
    });
  };
  // Hosts the sidecar helpers may reach: the Worker's own permission list.
  let allowedHosts: readonly string[] = [];
  // Hook calls under way, so that the host can cancel them.
  const running = new Set<AbortController>();

  let hooks: Partial<Record<HookName, Hook>> = {};
  let owner: unknown;

  const load = async (url: string, fallbackName: string) => {
    // deno-lint-ignore no-explicit-any -- a plugin's module: checked below
    const module: any = await importModule(url);
    const plugin = module.default;
    if (plugin !== null && typeof plugin === "object") {
      owner = plugin;
      for (const hook of ["beforeStart", "afterExit"] as const) {
        if (typeof plugin[hook] === "function") hooks[hook] = plugin[hook];
      }
      if (plugin.options === undefined) return { name: plugin.name as unknown };
      const options = checkOptions(plugin.options);
      if (typeof options === "string") throw new TypeError(options);
      return { name: plugin.name as unknown, options };
    }
    if (typeof module.getPlugin === "function") {
      const legacy = await module.getPlugin();
      if (legacy === null || typeof legacy !== "object") {
        throw new TypeError("getPlugin() did not return an object");
      }
      owner = legacy;
      if (typeof legacy.run === "function") hooks = { afterExit: legacy.run };
      return { name: (legacy.name ?? fallbackName) as unknown };
    }
    throw new TypeError(
      "no default export object and no getPlugin() function",
    );
  };

  const logger =
    (level: PluginLogLevel) =>
    (message: string, properties: Record<string, unknown> = {}) => {
      const entry = { kind: "log", level, message: String(message) } as const;
      try {
        post({ ...entry, properties });
      } catch {
        post({ ...entry, properties: { properties: String(properties) } });
      }
    };
  const log = {
    debug: logger("debug"),
    info: logger("info"),
    warn: logger("warn"),
    error: logger("error"),
  };

  // --- Sidecar helpers: ctx.waitReady() and ctx.quit() ----------------------
  const disabled = (url: string) => url === "off";
  // The same rule as the Worker's net permission, checked up front so that a
  // plugin gets one clear error however it runs.
  const loopbackOnly = (url: string) => {
    const { hostname } = new URL(url);
    if (!allowedHosts.includes(hostname)) {
      throw new Error(
        `${url}: plugins may reach only ${allowedHosts.join(", ")}`,
      );
    }
  };

  const sidecarTools = (
    signal: AbortSignal,
    timeoutMs: number,
    settings: SidecarSettings,
    log: PluginLogger,
  ) => ({
    async waitReady(url: string, options: ReadyOptions = {}) {
      if (disabled(url)) return;
      loopbackOnly(url);
      if (settings.native) {
        log.debug("Native sidecars: not waiting for readiness", { url });
        return;
      }
      if (settings.injected === false) {
        log.info("The pod's metadata shows no such sidecar: not waiting", {
          url,
        });
        return;
      }
      const expect = options.expect ?? [200];
      const started = Date.now();
      let last: string | undefined; // the last answer, once anything answered
      let report = started + settings.progressMs;
      log.debug("Waiting for the sidecar to be ready", { url, timeoutMs });
      for (;;) {
        if (Date.now() >= report) {
          report += settings.progressMs;
          log.info("Still waiting for the sidecar", {
            url,
            waitedMs: Date.now() - started,
            timeoutMs,
            last: last ?? "connection refused",
          });
        }
        // One attempt that is never answered must not use up the wait.
        const patience = AbortSignal.timeout(ATTEMPT_MS);
        try {
          const response = await fetch(url, {
            method: options.method ?? "GET",
            headers: options.headers ?? {},
            signal: AbortSignal.any([signal, patience]),
          });
          await response.body?.cancel();
          if (expect.includes(response.status)) {
            log.info("Sidecar ready", { url, afterMs: Date.now() - started });
            return;
          }
          last = `HTTP ${response.status}`;
        } catch (error) {
          if (signal.aborted) break;
          if (patience.aborted) {
            last = `no answer within ${ATTEMPT_MS} ms`;
          } else if (!isRefused(error)) last = describe(error);
          else if (
            last === undefined && settings.absentAfterMs !== null &&
            Date.now() - started >= settings.absentAfterMs
          ) {
            throw new Error(
              `No sidecar at ${url}: connection refused for ${settings.absentAfterMs} ms`,
            );
          }
        }
        try {
          await sleep(readyPollMs(Date.now() - started), signal);
        } catch {
          break;
        }
      }
      throw new Error(
        `Sidecar at ${url} not ready within ${timeoutMs} ms (last answer: ${
          last ?? "connection refused"
        })`,
      );
    },

    async quit(url: string, options: QuitOptions = {}) {
      if (disabled(url)) return;
      loopbackOnly(url);
      if (settings.native) {
        log.info("Native sidecars: the kubelet stops them, not asking", {
          url,
        });
        return;
      }
      const expect = options.expect ?? [200];
      let response: Response;
      let waited = false; // for an injected sidecar not listening yet
      for (let attempt = 1;;) {
        // An attempt never answered is retried, not waited on to the deadline.
        const patience = AbortSignal.timeout(ATTEMPT_MS);
        try {
          response = await fetch(url, {
            method: options.method ?? "POST",
            headers: options.headers ?? {},
            signal: AbortSignal.any([signal, patience]),
          });
          if (!isTransientStatus(response.status) || attempt === 3) break;
          await response.body?.cancel();
          log.debug("Quit: transient answer, retrying", {
            url,
            status: response.status,
          });
        } catch (error) {
          if (isRefused(error) && attempt > 1) {
            log.info("Sidecar stopped", { url });
            return;
          }
          if (isRefused(error) && settings.injected === true) {
            if (!waited) {
              log.info(
                "Sidecar not listening yet: waiting to tell it to quit",
                {
                  url,
                },
              );
            }
            waited = true;
            try {
              await sleep(50, signal);
            } catch {
              throw new Error(
                `Sidecar at ${url} never listened within ${timeoutMs} ms: it was not told to quit`,
              );
            }
            continue;
          }
          if (isRefused(error)) {
            const hint = options.absentHint ?? "";
            log.info("No sidecar listening: nothing to stop", {
              url,
              ...(hint === "" ? {} : { hint }),
            });
            return;
          }
          const unanswered = patience.aborted && !signal.aborted;
          const failure = unanswered
            ? new Error(`${url}: no answer within ${ATTEMPT_MS} ms`)
            : error;
          if (signal.aborted || attempt === 3) throw failure;
          log.debug("Quit: transient error, retrying", {
            url,
            error: describe(failure),
          });
        }
        await sleep(backoff(attempt, 100, 400), signal);
        attempt++;
      }
      // The start of the body only: whatever holds the port may send forever.
      const body = (await readStart(response, 200)).trim();
      if (!expect.includes(response.status)) {
        const hint = options.hints?.[response.status];
        throw new Error(
          `Sidecar refused to quit: HTTP ${response.status}` +
            (body === "" ? "" : ` ${JSON.stringify(body)}`) +
            (hint === undefined ? "" : `: ${hint}`),
        );
      }
      log.info("Asked the sidecar to quit", { url, status: response.status });
      if (options.verify === false) return;
      const target = new URL(url);
      const port = Number(
        target.port || (target.protocol === "https:" ? 443 : 80),
      );
      const hostname = target.hostname.replace(/^\[|\]$/g, "");
      const started = Date.now();
      for (let attempt = 1;; attempt++) {
        try {
          (await Deno.connect({ hostname, port })).close();
        } catch (error) {
          if (isRefused(error)) {
            log.info("Sidecar stopped", { url, afterMs: Date.now() - started });
            return;
          }
        }
        const left = settings.verifyTimeoutMs - (Date.now() - started);
        if (left <= 0) break;
        await sleep(Math.min(backoff(attempt, 10, 200), left), signal);
      }
      throw new Error(
        `Sidecar still running ${settings.verifyTimeoutMs} ms after accepting the quit (port ${port} open)`,
      );
    },
  });

  return async (data) => {
    if (data.kind === "cancel") {
      for (const call of running) call.abort(new Error(data.reason));
      return;
    }
    if (data.kind === "load") {
      if (data.protocol !== PROTOCOL_VERSION) {
        post({
          kind: "load-failed",
          message:
            `the host speaks protocol ${data.protocol}, this runtime ${PROTOCOL_VERSION}`,
        });
        return;
      }
      allowedHosts = data.allowedHosts;
      try {
        // A process gets the text itself: the host's blob: URLs are not its.
        const url = data.code === undefined ? data.url : URL.createObjectURL(
          new Blob([data.code], { type: data.mediaType ?? "" }),
        );
        const { name, options } = await load(url, data.fallbackName);
        if (hooks.beforeStart === undefined) warmSoon();
        post({
          kind: "loaded",
          protocol: PROTOCOL_VERSION,
          name,
          hooks: Object.keys(hooks) as HookName[],
          ...(options === undefined ? {} : { options }),
        });
      } catch (error) {
        post({ kind: "load-failed", message: describe(error) });
      }
      return;
    }
    if (data.hook === "afterExit") {
      cancelWarm();
      // Long done for any job that ran more than a few ms: no await then,
      // so the quit is sent before anything else runs.
      if (warm !== undefined) await warm;
    }
    const hook = hooks[data.hook];
    const { timeoutMs, sidecar } = data.context;
    const call = new AbortController();
    running.add(call);
    const signal = AbortSignal.any([
      AbortSignal.timeout(timeoutMs),
      call.signal,
    ]);
    const ctx = Object.freeze({
      ...data.context,
      signal,
      log,
      ...sidecarTools(signal, timeoutMs, sidecar, log),
    });
    try {
      if (hook !== undefined) await hook.call(owner, ctx);
      post({ kind: "done" });
      if (data.hook === "beforeStart") warmSoon(); // the job starts now
    } catch (error) {
      post({ kind: "failed", message: describe(error) });
    } finally {
      running.delete(call);
    }
  };
}

if (import.meta.main) {
  if ("WorkerGlobalScope" in globalThis) workerMain();
  else processMain();
}
