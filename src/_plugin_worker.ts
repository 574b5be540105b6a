/**
 * The plugin runtime: loads one plugin module and runs its hooks, talking to
 * the host only by messages. The same code serves both ways a plugin runs:
 *
 * - sandboxed (file and URL plugins): `workerMain` wires it to a Worker's
 *   messages; the host turns both functions into source text with
 *   `toString()` and starts the Worker from a `blob:` URL, so it works the
 *   same under `deno run` and compiled;
 * - in-process (built-ins named by name): the host calls `pluginRuntime`
 *   directly, with no Worker to start (see plugin_host.ts).
 *
 * Both functions must therefore use nothing from outside their own bodies.
 * @module
 */
import type {
  HostMessage,
  PluginLogLevel,
  WorkerMessage,
} from "./_protocol.ts";
import type { after } from "./timer.ts";
import type {
  HookName,
  PluginLogger,
  QuitOptions,
  ReadyOptions,
  SidecarSettings,
} from "../mod.ts";

type Hook = (ctx: unknown) => unknown;

/**
 * Take from the plugin's realm what would reach past its runtime: the
 * process's standard streams (a Worker needs no permission for them; a
 * plugin process talks to the host on them), `console.*` (becomes log
 * lines) and `Deno.exit`/`close` (the host is told first). Self-contained:
 * serialized by the host. Returns the real standard streams.
 */
export function confine(
  post: (message: WorkerMessage) => void,
): { stdin: typeof Deno.stdin; stdout: typeof Deno.stdout } {
  const streams = { stdin: Deno.stdin, stdout: Deno.stdout };
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
  return streams;
}

/** Entry point of a plugin Worker. Self-contained: serialized by the host. */
export function workerMain(
  runtime: typeof pluginRuntime,
  timer: typeof after,
  confined: typeof confine,
): void {
  const scope = globalThis as unknown as {
    postMessage(message: WorkerMessage): void;
    onmessage: ((event: MessageEvent<HostMessage>) => void) | null;
  };
  const post = (message: WorkerMessage) => scope.postMessage(message);
  confined(post);
  const receive = runtime(post, timer);
  scope.onmessage = ({ data }) => void receive(data);
}

/**
 * Entry point of a plugin process: one JSON message per line, from the host
 * on stdin, to it on stdout. Self-contained: serialized by the host.
 */
export function processMain(
  runtime: typeof pluginRuntime,
  timer: typeof after,
  confined: typeof confine,
): void {
  const encoder = new TextEncoder();
  // The real stdout, once confine() has taken it from the plugin's reach.
  const channel: { out?: typeof Deno.stdout } = {};
  let calls = 0; // hook calls under way: an uncaught error fails them
  const post = (message: WorkerMessage) => {
    if (message.kind === "done" || message.kind === "failed") calls = 0;
    let line: string;
    const seen = new WeakSet<object>();
    try {
      // What a Worker's structured clone carries, JSON must too.
      line = JSON.stringify(message, (_key, value: unknown) => {
        if (typeof value === "bigint") return `${value}n`;
        if (value !== null && typeof value === "object") {
          if (seen.has(value)) return "[Circular]";
          seen.add(value);
        }
        return value;
      });
    } catch {
      line = JSON.stringify({
        kind: "log",
        level: "warn",
        message: "a message the plugin sent could not be serialized",
        properties: {},
      });
    }
    const bytes = encoder.encode(line + "\n");
    for (let n = 0; n < bytes.length;) {
      n += channel.out!.writeSync(bytes.subarray(n));
    }
  };
  const { stdin, stdout } = confined(post);
  channel.out = stdout;
  // An error no hook caught (a throw in a timer) fails the hook under way,
  // as a Worker's would, and the process lives on for the next one.
  const uncaught = (reason: unknown) => {
    let text: string;
    try {
      text = reason instanceof Error
        ? `${reason.name}: ${reason.message}`
        : String(reason);
    } catch {
      text = "an error that cannot be read";
    }
    if (calls > 0) post({ kind: "failed", message: `Uncaught ${text}` });
    else post({ kind: "log", level: "error", message: text, properties: {} });
  };
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    uncaught(event.error);
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    uncaught(event.reason);
  });
  const receive = runtime(post, timer);
  (async () => {
    let buffer = "";
    const lines = stdin.readable.pipeThrough(new TextDecoderStream());
    for await (const chunk of lines) {
      buffer += chunk;
      for (
        let at = buffer.indexOf("\n");
        at !== -1;
        at = buffer.indexOf("\n")
      ) {
        const message = JSON.parse(buffer.slice(0, at)) as HostMessage;
        buffer = buffer.slice(at + 1);
        if (message.kind === "call") calls++;
        void receive(message);
      }
    }
    Deno.exit(0); // the host has gone
  })();
}

/**
 * Run one plugin: returns the function that takes the host's messages; its
 * promise settles when the message is handled, and never rejects.
 * Self-contained: serialized by the host for Workers.
 */
export function pluginRuntime(
  post: (message: WorkerMessage) => void,
  timer: typeof after,
): (message: HostMessage) => Promise<void> {
  // A plugin's error may be anything, even one whose getters throw: this
  // must never throw (an uncaught error prints a stack on the job's stderr).
  const describe = (error: unknown) => {
    try {
      return error instanceof Error
        ? `${error.name}: ${error.message}`
        : String(error);
    } catch {
      return "an error that cannot be read (its name, message or toString throws)";
    }
  };

  // The first fetch in a fresh isolate spends ~12 ms setting fetch up. Pay it
  // while the job runs — 20 ms after it started, so an instant job pays
  // nothing — not when it has ended and a sidecar waits for its quit.
  // A data: URL sends nothing anywhere.
  let warm: Promise<unknown> = Promise.resolve();
  let cancelWarm = () => {};
  const warmSoon = () => {
    cancelWarm = timer(20, () => {
      warm = fetch("data:,").then((r) => r.arrayBuffer()).catch(() => {});
    });
  };

  // Hosts the sidecar helpers may reach: the Worker's own permission list.
  let allowedHosts: readonly string[] = [];
  // Hook calls under way, so that the host can cancel them.
  const running = new Set<AbortController>();

  let hooks: Partial<Record<HookName, Hook>> = {};
  let owner: unknown;

  const load = async (url: string, fallbackName: string) => {
    const module = await import(url);
    const plugin = module.default;
    if (plugin !== null && typeof plugin === "object") {
      owner = plugin;
      for (const hook of ["beforeStart", "afterExit"] as const) {
        if (typeof plugin[hook] === "function") hooks[hook] = plugin[hook];
      }
      return { name: plugin.name as unknown };
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
  const refused = (error: unknown) =>
    error instanceof Deno.errors.ConnectionRefused ||
    /connection refused/i.test(String((error as Error)?.cause ?? error));
  const pause = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const abort = () => {
        cancel();
        reject(signal.reason);
      };
      const cancel = timer(ms, () => {
        signal.removeEventListener("abort", abort);
        resolve();
      });
      signal.addEventListener("abort", abort, { once: true });
    });
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
      for (let delay = 25;; delay = Math.min(delay * 2, 500)) {
        try {
          const response = await fetch(url, {
            method: options.method ?? "GET",
            headers: options.headers ?? {},
            signal,
          });
          await response.body?.cancel();
          if (expect.includes(response.status)) {
            log.info("Sidecar ready", { url, afterMs: Date.now() - started });
            return;
          }
          last = `HTTP ${response.status}`;
        } catch (error) {
          if (signal.aborted) break;
          if (!refused(error)) last = describe(error);
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
          await pause(delay, signal);
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
        try {
          response = await fetch(url, {
            method: options.method ?? "POST",
            headers: options.headers ?? {},
            signal,
          });
          const transient = response.status === 429 ||
            (response.status >= 500 && response.status !== 501);
          if (!transient || attempt === 3) break;
          await response.body?.cancel();
          log.debug("Quit: transient answer, retrying", {
            url,
            status: response.status,
          });
        } catch (error) {
          if (refused(error) && attempt > 1) {
            log.info("Sidecar stopped", { url });
            return;
          }
          if (refused(error) && settings.injected === true) {
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
              await pause(50, signal);
            } catch {
              throw new Error(
                `Sidecar at ${url} never listened within ${timeoutMs} ms: it was not told to quit`,
              );
            }
            continue;
          }
          if (refused(error)) {
            const hint = options.absentHint ?? "";
            log.info("No sidecar listening: nothing to stop", {
              url,
              ...(hint === "" ? {} : { hint }),
            });
            return;
          }
          if (signal.aborted || attempt === 3) throw error;
          log.debug("Quit: transient error, retrying", {
            url,
            error: describe(error),
          });
        }
        await pause(100 * 2 ** (attempt - 1), signal);
        attempt++;
      }
      const body = (await response.text()).trim().slice(0, 200);
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
      for (let delay = 10;; delay = Math.min(delay * 2, 200)) {
        try {
          (await Deno.connect({ hostname, port })).close();
        } catch (error) {
          if (refused(error)) {
            log.info("Sidecar stopped", { url, afterMs: Date.now() - started });
            return;
          }
        }
        const left = settings.verifyTimeoutMs - (Date.now() - started);
        if (left <= 0) break;
        await pause(Math.min(delay, left), signal);
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
      allowedHosts = data.allowedHosts;
      try {
        // A process gets the text itself: the host's blob: URLs are not its.
        const url = data.code === undefined ? data.url : URL.createObjectURL(
          new Blob([data.code], { type: data.mediaType ?? "" }),
        );
        const { name } = await load(url, data.fallbackName);
        if (hooks.beforeStart === undefined) warmSoon();
        post({
          kind: "loaded",
          name,
          hooks: Object.keys(hooks) as HookName[],
        });
      } catch (error) {
        post({ kind: "load-failed", message: describe(error) });
      }
      return;
    }
    if (data.hook === "afterExit") {
      cancelWarm();
      await warm; // long done for any job that ran more than a few ms
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
