// src/plugin_set.ts with real built-ins loaded in-process: a fault of the
// wrapper's own with one plugin never cuts another's hook short, and what a
// plugin is given is a copy, never the wrapper's own objects.
import { deepStrictEqual, equal } from "node:assert/strict";
import { readConfig } from "../src/config.ts";
import type { Logger } from "../src/log.ts";
import { planPlugins } from "../src/plan.ts";
import { PluginSet } from "../src/plugin_set.ts";
import type { HookContextData } from "../src/_protocol.ts";

const lines: string[] = [];
const log: Logger = {
  debug: () => {},
  info: () => {},
  warn: (message) => void lines.push(message),
  error: (message) => void lines.push(message),
};

async function loaded(specs: string): Promise<PluginSet> {
  const { config } = readConfig(["-p", specs, "true"], {});
  const set = new PluginSet(
    config,
    planPlugins(config.plugins, undefined),
    {},
    log,
  );
  equal(
    await set.load(planPlugins(config.plugins, undefined).plugins),
    undefined,
  );
  return set;
}

const EXIT = {
  exit: { code: 3, signal: null, success: false },
  durationMs: 1,
  started: true,
};

Deno.test("PluginSet.run: one plugin's internal fault is its failure; the others' hooks still run to the end", async () => {
  const set = await loaded("echo,http");
  const [echo, http] = set.plugins;
  let httpDone = false;
  echo!.call = () => Promise.reject(new Error("the wrapper's own bug"));
  const real = http!.call.bind(http);
  http!.call = async (...args) => {
    const outcome = await real(...args);
    httpDone = true;
    return outcome;
  };
  try {
    deepStrictEqual(await set.run("afterExit", EXIT), [false, true]);
    equal(httpDone, true);
    equal(lines.at(-1), "Internal error running a hook");
  } finally {
    set.close();
  }
});

Deno.test("PluginSet.run: a plugin that changes its context changes neither the exit status nor its next context", async () => {
  const set = await loaded("echo");
  const [echo] = set.plugins;
  const seen: HookContextData[] = [];
  echo!.call = (_hook, context) => {
    seen.push(structuredClone(context));
    // What a careless in-process plugin could do; the types say read-only.
    const loose = context as unknown as {
      exit: { code: number };
      options: Record<string, string>;
      command: string[];
    };
    loose.exit.code = 0;
    loose.options["x"] = "changed";
    loose.command.push("changed");
    return Promise.resolve({ ok: true });
  };
  const exit = structuredClone(EXIT);
  try {
    set.prepare("afterExit"); // as 20 ms into the job
    await set.run("afterExit", exit);
    await set.run("afterExit", exit);
    equal(exit.exit.code, 3);
    deepStrictEqual(seen[1], seen[0]);
    deepStrictEqual(seen[0]!.command, ["true"]);
    equal(seen[0]!.exit!.code, 3);
  } finally {
    set.close();
  }
});
