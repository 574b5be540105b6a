/**
 * The code that runs inside each plugin's Worker. The host turns
 * `pluginWorkerMain` into source text with `toString()` and starts the Worker
 * from a `blob:` URL, so it works the same under `deno run` and compiled.
 * The function must therefore use nothing from outside its own body.
 * @module
 */
import type {
  HostMessage,
  PluginLogLevel,
  WorkerMessage,
} from "./_protocol.ts";
import type { HookName } from "../mod.ts";

type Hook = (ctx: unknown) => unknown;

/** Entry point of a plugin Worker. Self-contained: serialized by the host. */
export function pluginWorkerMain(): void {
  const scope = globalThis as unknown as {
    postMessage(message: WorkerMessage): void;
    onmessage: ((event: MessageEvent<HostMessage>) => void) | null;
  };
  const post = (message: WorkerMessage) => scope.postMessage(message);
  const describe = (error: unknown) =>
    error instanceof Error ? `${error.name}: ${error.message}` : String(error);

  // A plugin calling Deno.exit() would end its Worker silently: tell the host.
  const exit = Deno.exit;
  Object.defineProperty(Deno, "exit", {
    value: (code?: number) => {
      post({ kind: "exit", code: code ?? 0 });
      exit(code);
    },
  });

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

  scope.onmessage = async ({ data }) => {
    if (data.kind === "load") {
      try {
        const { name } = await load(data.url, data.fallbackName);
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
    const hook = hooks[data.hook];
    const ctx = Object.freeze({
      ...data.context,
      signal: AbortSignal.timeout(data.context.timeoutMs),
      log,
    });
    try {
      if (hook !== undefined) await hook.call(owner, ctx);
      post({ kind: "done" });
    } catch (error) {
      post({ kind: "failed", message: describe(error) });
    }
  };
}
