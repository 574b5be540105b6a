// A file or URL plugin in an OS process of its own: what it does there stays
// there. Its memory, CPU and messages cannot take the wrapper, the job or the
// other plugins down; each test has a quit plugin beside it that must quit.
import { equal, match, ok } from "node:assert/strict";
import {
  closedPort,
  fakePilotAgent,
  istioEnv,
  istioStatus,
  podinfoDir,
  ROOT,
  wrapper,
  WRAPPER_ARGS,
} from "./_helpers.ts";

const linux = Deno.build.os !== "linux";

async function withHostile(
  code: string,
  job: string[],
  env: Record<string, string> = {},
  prlimit?: string[],
) {
  await using sidecar = fakePilotAgent();
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/hostile.ts`, code);
  try {
    const result = await wrapper(
      ["-p", `istio-proxy,${dir}/hostile.ts`, ...job],
      {
        env: { ...istioEnv(sidecar.port), ...env },
        ...(prlimit ? { prlimit } : {}),
      },
    );
    ok(
      sidecar.requests.some((r) => r.method === "POST"),
      `no quit: ${result.stderr}`,
    );
    return result;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name:
    "a plugin that exhausts its heap ends its own process only: the job runs, its code stays, the sidecar quits",
  ignore: linux,
  fn: async () => {
    // Bounded by the plugin process's V8 heap cap (128 MiB), not the machine.
    const result = await withHostile(
      `const keep: number[][] = [];\n` +
        `export default { name: "bomb", beforeStart() {\n` +
        `  for (;;) keep.push(new Array(1e5).fill(Math.random()));\n} };\n`,
      ["sh", "-c", "exit 6"],
    );
    equal(result.code, 6, result.stderr.slice(-2000));
    match(
      result.stderr,
      /Hook failed plugin=bomb hook=beforeStart error="the plugin's process was killed by SIG\w+ \(out of memory\? its heap is capped at 128 MiB\)"/,
    );
  },
});

Deno.test({
  name:
    "a busy-looping plugin's process is killed at its deadline: during the job the wrapper has no other live child and uses under half a core",
  ignore: linux,
  fn: async () => {
    // The job lists the wrapper's live children (zombies use no CPU), then
    // measures the wrapper's CPU time (utime + stime, in ticks) across a
    // second or so of its own work. A Worker busy-looping in the wrapper's
    // process would cost a whole core.
    const job = "for p in $(cat /proc/$PPID/task/*/children); do " +
      "s=$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null); " +
      '[ -n "$s" ] && [ "$s" != Z ] && printf "%s " "$p"; done; ' +
      'echo "self=$$"; ' +
      "cpu() { cut -d' ' -f14,15 /proc/$PPID/stat; }; " +
      "a=$(cpu); t0=$(cut -d' ' -f1 /proc/uptime); " +
      "head -c 400000000 /dev/zero | cksum > /dev/null; " +
      "b=$(cpu); t1=$(cut -d' ' -f1 /proc/uptime); " +
      'echo "cpu $a $b $t0 $t1"';
    const result = await withHostile(
      `export default { name: "busy", beforeStart() { for (;;) {} } };\n`,
      ["sh", "-c", job],
      { WRAPPER_READY_TIMEOUT: "300ms" },
    );
    equal(result.code, 0, result.stderr);
    match(result.stderr, /Hook timed out plugin=busy hook=beforeStart/);
    const out = new TextDecoder().decode(result.stdout);
    const [children, rest] = out.split("self=");
    const [self, cpuLine] = rest!.split("\n");
    equal(children!.trim(), self!.trim(), out);
    const [u0, s0, u1, s1, t0, t1] = cpuLine!.split(" ").slice(1).map(Number);
    const cpuSeconds = (u1! + s1! - u0! - s0!) / 100;
    const wallSeconds = t1! - t0!;
    ok(wallSeconds >= 0.2, `the job's work was too short to tell: ${out}`);
    ok(
      cpuSeconds < wallSeconds / 2,
      `wrapper CPU ${cpuSeconds}s in ${wallSeconds}s`,
    );
  },
});

Deno.test({
  name:
    "a plugin process that writes a message line over 1 MiB is ended: its hook fails, the job and the quit go on",
  ignore: linux,
  fn: async () => {
    const result = await withHostile(
      `export default { name: "big", beforeStart(ctx) {\n` +
        `  ctx.log.info("x".repeat(2 << 20));\n  return new Promise(() => {});\n} };\n`,
      ["sh", "-c", "exit 2"],
    );
    equal(result.code, 2, result.stderr);
    match(
      result.stderr,
      /Hook failed plugin=big hook=beforeStart error="sent a message line over 1048576 bytes"/,
    );
  },
});

Deno.test({
  name:
    "a plugin process that exits into a busy unload listener is killed: nothing of it runs after the wrapper",
  ignore: linux,
  fn: async () => {
    const result = await withHostile(
      `addEventListener("unload", () => { for (;;) {} });\n` +
        `export default { name: "lingers", beforeStart(ctx) {\n` +
        `  ctx.log.info("pid", { pid: Deno.pid });\n` +
        `  setTimeout(() => Deno.exit(0), 0);\n} };\n`,
      ["sh", "-c", "exit 0"],
    );
    equal(result.code, 0, result.stderr);
    const pid = /\[info lingers\] pid pid=(\d+)/.exec(result.stderr)![1];
    const state = await Deno.readTextFile(`/proc/${pid}/stat`).then(
      (stat) => stat.split(") ")[1]![0],
      () => "gone",
    );
    ok(["gone", "Z", "X"].includes(state!), `plugin process ${pid}: ${state}`);
  },
});

Deno.test({
  name:
    "a plugin that fills memory outside its heap (ArrayBuffers) is killed at its memory cap: the job runs, its code stays, the sidecar quits",
  ignore: linux,
  fn: async () => {
    // RLIMIT_DATA keeps a regression from taking the machine: the bomb would
    // then fail with a RangeError instead of the cap's message.
    const result = await withHostile(
      `const keep: Uint8Array[] = [];\n` +
        `export default { name: "buffers", beforeStart() {\n` +
        `  for (;;) keep.push(new Uint8Array(16 << 20).fill(7));\n} };\n`,
      ["sh", "-c", "exit 5"],
      {},
      ["--data=2147483648"],
    );
    equal(result.code, 5, result.stderr.slice(-2000));
    match(
      result.stderr,
      /Hook failed plugin=buffers hook=beforeStart error="the plugin's process used \d+ MiB, over its 256 MiB cap"/,
    );
  },
});

Deno.test({
  name:
    "the 1 MiB message bound counts bytes: a line of 600,000 two-byte characters ends the plugin's process",
  ignore: linux,
  fn: async () => {
    const result = await withHostile(
      `export default { name: "wide", beforeStart(ctx) {\n` +
        `  ctx.log.info("é".repeat(600_000));\n  return new Promise(() => {});\n} };\n`,
      ["sh", "-c", "exit 4"],
    );
    equal(result.code, 4, result.stderr);
    match(
      result.stderr,
      /Hook failed plugin=wide hook=beforeStart error="sent a message line over 1048576 bytes"/,
    );
  },
});

Deno.test({
  name:
    "without --allow-ffi the memory cap outside the heap cannot be enforced: the wrapper says so, and the plugin still runs",
  ignore: linux,
  fn: async () => {
    const args = WRAPPER_ARGS.filter((arg) => arg !== "--allow-ffi");
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [...args, "-p", "plugins/echo.ts", "true"],
      cwd: ROOT,
      env: { NO_COLOR: "1" },
      stdout: "null",
    }).output();
    const text = new TextDecoder().decode(stderr);
    equal(code, 0, text);
    match(
      text,
      /\[warn echo\] The plugin's memory outside its V8 heap is not capped reason="the wrapper was started without --allow-ffi"/,
    );
    match(text, /\[info echo\] Command ended/);
  },
});

Deno.test({
  name:
    "a plugin process that writes a line a byte at a time, or lines of 1 MiB one after another, is ended as flooding its host",
  ignore: linux,
  fn: async () => {
    const drip = await withHostile(
      `import { writeSync } from "node:fs";\n` +
        `export default { name: "drip", beforeStart() {\n` +
        `  const b = new Uint8Array([32]);\n` +
        `  for (let n = 0; n < 1000000; n++) {\n` +
        `    writeSync(1, b);\n` +
        `    const t = performance.now() + 0.1; while (performance.now() < t) {}\n` +
        `  }\n  return new Promise(() => {});\n} };\n`,
      ["sh", "-c", "exit 3"],
      { WRAPPER_READY_TIMEOUT: "60s" },
    );
    equal(drip.code, 3, drip.stderr);
    match(
      drip.stderr,
      /Hook failed plugin=drip hook=beforeStart error="flooded the host with writes \(over 1000 a second\)"/,
    );
    const big = await withHostile(
      `import { writeSync } from "node:fs";\n` +
        `const line = new TextEncoder().encode(JSON.stringify({ kind: "log", level: "debug", message: "x".repeat(900_000), properties: {} }) + "\\n");\n` +
        `export default { name: "big", beforeStart() {\n` +
        `  for (;;) for (let o = 0; o < line.length;) o += writeSync(1, line.subarray(o));\n} };\n`,
      ["sh", "-c", "exit 4"],
      { WRAPPER_READY_TIMEOUT: "60s" },
    );
    equal(big.code, 4, big.stderr);
    match(
      big.stderr,
      /Hook failed plugin=big hook=beforeStart error="flooded the host with data \(over 1 MiB a second\)"/,
    );
  },
});

Deno.test({
  name:
    "a result sent when no request is under way ends the plugin's process; its quit still runs in a fresh one",
  ignore: linux,
  fn: async () => {
    // The job waits for the plugin's process to be gone (its only other
    // child), so that the forged line arrives while no request is under way.
    const job = "for i in $(seq 1 1000); do alive=; " +
      "for p in $(cat /proc/$PPID/task/*/children); do " +
      '[ "$p" = "$$" ] && continue; ' +
      "s=$(cut -d' ' -f3 /proc/$p/stat 2>/dev/null); " +
      '[ -n "$s" ] && [ "$s" != Z ] && alive=1; done; ' +
      '[ -z "$alive" ] && break; sleep 0.01; done; exit 6';
    const result = await withHostile(
      `import { writeSync } from "node:fs";\n` +
        `const forge = () => writeSync(1, new TextEncoder().encode('{"kind":"done"}\\n'));\n` +
        `export default { name: "forger",\n` +
        `  beforeStart() { setTimeout(forge, 0); },\n` +
        `  afterExit(ctx) { ctx.log.info("after ran"); } };\n`,
      ["sh", "-c", job],
    );
    equal(result.code, 6, result.stderr);
    match(
      result.stderr,
      /\[warn forger\] Plugin error outside a hook error="sent \\"done\\" when no request was under way"/,
    );
    match(result.stderr, /\[info forger\] after ran/);
  },
});

Deno.test({
  name:
    "a plugin's error text is cut before it is read: a huge or pathological message costs the wrapper nothing",
  ignore: linux,
  fn: async () => {
    // Backtracking patterns over 1 MiB of "SyntaxError: " took minutes.
    const load = await withHostile(
      `throw new Error("SyntaxError: ".repeat(80000));\n` +
        `export default { name: "redos", afterExit() {} };\n`,
      ["true"],
    );
    equal(load.code, 125, load.stderr.slice(-1000));
    const line = load.stderr.split("\n").find((l) =>
      l.includes("redos.ts") || l.includes("hostile.ts")
    )!;
    ok(line.length < 5000, `a ${line.length}-character line`);
    const hook = await withHostile(
      `export default { name: "redoshook", beforeStart() {\n` +
        `  throw new Error("npm: specifiers ".repeat(60000));\n} };\n`,
      ["sh", "-c", "exit 2"],
    );
    equal(hook.code, 2, hook.stderr.slice(-1000));
    const failed = hook.stderr.split("\n").find((l) =>
      l.includes("Hook failed")
    )!;
    ok(failed.length < 5000, `a ${failed.length}-character line`);
  },
});

Deno.test({
  name:
    "a plugin that holds the sidecar's port and answers the quit with an endless body costs the wrapper one chunk: the job's code stays",
  ignore: linux,
  fn: async () => {
    const port = closedPort();
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(
      `${dir}/squat.ts`,
      `const chunk = new Uint8Array(1 << 20).fill(65);\n` +
        `Deno.serve({ hostname: "127.0.0.1", port: ${port}, onListen() {} }, () =>\n` +
        `  new Response(new ReadableStream({ pull(c) { c.enqueue(chunk); } })));\n` +
        `export default { name: "squat", afterExit() {} };\n`,
    );
    try {
      const result = await wrapper(
        ["-p", `istio-proxy,${dir}/squat.ts`, "sh", "-c", "exit 3"],
        {
          env: {
            WRAPPER_PLUGIN_ISTIO_PROXY_READY_URL: "off",
            WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL:
              `http://127.0.0.1:${port}/quitquitquit`,
            WRAPPER_QUIT_VERIFY_TIMEOUT: "100ms",
          },
          // Reading the whole body took the wrapper past 2 GiB (exit 134).
          prlimit: ["--data=2147483648"],
        },
      );
      equal(result.code, 3, result.stderr.slice(-2000));
      match(result.stderr, /\[info istio-proxy\] Asked the sidecar to quit/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "a file plugin named like a built-in but with other code is refused (125): it never gets the built-in's options, and the built-in the metadata asked for still quits",
  ignore: linux,
  fn: async () => {
    await using sidecar = fakePilotAgent();
    await using pod = await podinfoDir(
      { "sidecar.istio.io/status": istioStatus() },
      { app: "job" },
    );
    const dir = await Deno.makeTempDir();
    await Deno.writeTextFile(
      `${dir}/impostor.ts`,
      `export default { name: "istio-proxy", afterExit(ctx) {\n` +
        `  ctx.log.info("options", { options: ctx.options });\n} };\n`,
    );
    try {
      const result = await wrapper(["-p", `auto,${dir}/impostor.ts`, "true"], {
        env: {
          ...istioEnv(sidecar.port),
          WRAPPER_PODINFO_DIR: pod.path,
          WRAPPER_PLUGIN_ISTIO_PROXY_SECRET: "hunter2",
        },
      });
      equal(result.code, 125, result.stderr);
      match(
        result.stderr,
        /it is named "istio-proxy", the name of a built-in plugin, but is not its code/,
      );
      ok(!result.stderr.includes("hunter2"), result.stderr);
      ok(sidecar.requests.some((r) => r.method === "POST"), result.stderr);
      // The built-in's own file, run sandboxed, is the built-in: accepted.
      await using second = fakePilotAgent();
      const copy = await wrapper(
        ["-p", "auto,plugins/istio_proxy.ts", "true"],
        {
          env: { ...istioEnv(second.port), WRAPPER_PODINFO_DIR: pod.path },
        },
      );
      equal(copy.code, 0, copy.stderr);
      ok(second.requests.some((r) => r.method === "POST"), copy.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "blank lines on a plugin process's stderr count against its log budget: a flood of them ends it",
  ignore: linux,
  fn: async () => {
    const result = await withHostile(
      `import { writeSync } from "node:fs";\n` +
        `const lines = new TextEncoder().encode("\\n".repeat(60000));\n` +
        `export default { name: "blank", beforeStart() {\n` +
        `  for (let n = 0; n < lines.length;) n += writeSync(2, lines.subarray(n));\n` +
        `  return new Promise(() => {});\n} };\n`,
      ["sh", "-c", "exit 2"],
      { WRAPPER_READY_TIMEOUT: "60s" },
    );
    equal(result.code, 2, result.stderr);
    match(
      result.stderr,
      /Hook failed plugin=blank hook=beforeStart error="flooded its log \(1000 lines dropped\)"/,
    );
  },
});
