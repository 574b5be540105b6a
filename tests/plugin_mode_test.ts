// Plugin mode: the wrapper re-executed as a plugin process, as a compiled
// binary does (it cannot be given narrower flags). Run here under `deno run`
// with the compiled binary's permissions, speaking the host's protocol.
import { deepEqual, equal, ok } from "node:assert/strict";
import { ROOT, TestServer } from "./_helpers.ts";
import { readByteLines } from "../src/plugin_process.ts";
import { PLUGIN_MODE_ARG } from "../src/plugin_mode_arg.ts";
import type { HostMessage } from "../src/_protocol.ts";

const COMPILED_PERMISSIONS = [
  "--no-prompt",
  "--allow-run",
  "--allow-net",
  "--allow-read",
  "--allow-env",
  "--allow-ffi",
];

const PROBE = `
const tries = {
  read: () => Deno.readTextFileSync("/etc/hostname"),
  env: () => Deno.env.get("HOME"),
  run: () => new Deno.Command("true").outputSync(),
  write: () => Deno.writeTextFileSync("/tmp/plugin-mode-probe", "x"),
  ffi: () => Deno.dlopen("libc.so.6", {}),
  sys: () => Deno.hostname(),
  remote: () => fetch("http://192.0.2.1:8080/"),
};
export default {
  name: "probe",
  async beforeStart(ctx) {
    const result = {};
    for (const [what, attempt] of Object.entries(tries)) {
      try {
        await attempt();
        result[what] = "allowed";
      } catch (error) {
        result[what] = error.name;
      }
    }
    const answer = await fetch(ctx.options.URL);
    result.loopback = await answer.text();
    ctx.log.info("probed", result);
  },
};
`;

Deno.test("plugin mode: the plugin reaches loopback and nothing else, and speaks the host's protocol", async () => {
  await using server = new TestServer(() => new Response("hello"));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...COMPILED_PERMISSIONS, "main.ts", PLUGIN_MODE_ARG],
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const messages: Record<string, unknown>[] = [];
  const waiters: Array<() => void> = [];
  let ended = false;
  const wake = () => waiters.splice(0).forEach((resolve) => resolve());
  const reading = readByteLines(child.stdout, { maxBytes: 1 << 20 }, (line) => {
    messages.push(JSON.parse(new TextDecoder().decode(line)));
    wake();
  }).finally(() => {
    ended = true; // a process that ended fails the test, never hangs it
    wake();
  });
  const next = async (kind: string) => {
    for (;;) {
      const found = messages.find((m) => m.kind === kind);
      if (found !== undefined) return found;
      if (ended) {
        const stderr = await new Response(child.stderr).text();
        throw new Error(`plugin mode ended before "${kind}": ${stderr}`);
      }
      await new Promise<void>((resolve) => waiters.push(resolve));
    }
  };
  const writer = child.stdin.getWriter();
  const send = (message: HostMessage) =>
    writer.write(new TextEncoder().encode(JSON.stringify(message) + "\n"));

  await send({
    kind: "load",
    protocol: 1,
    url: "file:///probe.js",
    code: PROBE,
    mediaType: "application/javascript",
    fallbackName: "probe",
    allowedHosts: ["localhost", "127.0.0.1", "[::1]"],
  });
  deepEqual(await next("loaded"), {
    kind: "loaded",
    protocol: 1,
    name: "probe",
    hooks: ["beforeStart"],
  });
  await send({
    kind: "call",
    hook: "beforeStart",
    context: {
      hook: "beforeStart",
      command: ["true"],
      options: { URL: `http://127.0.0.1:${server.port}/` },
      timeoutMs: 10_000,
      sidecar: {
        absentAfterMs: null,
        verifyTimeoutMs: 1000,
        native: false,
        injected: null,
        progressMs: 10_000,
      },
    },
  });
  await next("done");
  const log = messages.find((m) => m.kind === "log") as {
    message: string;
    properties: Record<string, string>;
  };
  equal(log.message, "probed");
  const { loopback, ...denied } = log.properties;
  equal(loopback, "hello");
  for (const [what, outcome] of Object.entries(denied)) {
    ok(outcome === "NotCapable", `${what}: ${outcome}`);
  }
  deepEqual(Object.keys(denied).sort(), [
    "env",
    "ffi",
    "read",
    "remote",
    "run",
    "sys",
    "write",
  ]);
  await writer.close(); // the host has gone: the process ends
  const status = await child.status;
  await reading;
  equal(
    status.code,
    0,
    new TextDecoder().decode(await new Response(child.stderr).arrayBuffer()),
  );
});
