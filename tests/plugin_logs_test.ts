// What a sandboxed plugin can write, and what reaches the wrapper's stderr:
// never the job's stdout, never a forged line, never a template.
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { checkWorkerMessage } from "../src/_protocol.ts";
import { optionClash, pluginOptions } from "../src/config.ts";
import { escapeControls } from "../src/log.ts";
import { explainHookError, explainLoadError } from "../src/plugin_errors.ts";
import {
  fakePilotAgent,
  ROOT,
  tempPlugin,
  wrapper,
  WRAPPER_ARGS,
} from "./_helpers.ts";

async function runPlugin(code: string, args: string[] = []) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/plugin.ts`;
  await Deno.writeTextFile(path, code);
  try {
    return await wrapper([...args, "-p", path, "true"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("a plugin's console.* becomes its log lines on stderr; the job's stdout stays empty", async () => {
  const result = await runPlugin(
    `export default { name: "noisy", afterExit() {\n` +
      `  console.log("hello", { a: 1 });\n` +
      `  console.error("bad");\n` +
      `  console.warn("careful");\n` +
      `  console.table([1, 2]);\n` +
      `  console.count();\n` +
      `  console.assert(false, "broken");\n` +
      `} };\n`,
  );
  equal(result.code, 0, result.stderr);
  equal(result.stdout.length, 0);
  match(result.stderr, /^\[info noisy\] hello \{ a: 1 \}$/m);
  match(result.stderr, /^\[error noisy\] bad$/m);
  match(result.stderr, /^\[warn noisy\] careful$/m);
  match(result.stderr, /^\[error noisy\] Assertion failed broken$/m);
});

Deno.test("a message with braces is text, not a template", async () => {
  const result = await runPlugin(
    `export default { name: "braces", afterExit(ctx) {\n` +
      `  ctx.log.info('OPTS {"a":"b"} {x}', { x: 1 });\n} };\n`,
  );
  match(result.stderr, /^\[info braces\] OPTS \{"a":"b"\} \{x\} x=1$/m);
});

Deno.test("control characters in a plugin's line are escaped: no forged line, no terminal codes", async () => {
  const result = await runPlugin(
    `export default { name: "ctl", afterExit(ctx) {\n` +
      `  ctx.log.info("a\\nb\\r[error wrapper] forged\\u001b[31m\\u0000z");\n} };\n`,
  );
  const lines = result.stderr.split("\n").filter((l) => l.includes("ctl]"));
  deepStrictEqual(lines, [
    "[info ctl] a\\nb\\r[error wrapper] forged\\u001b[31m\\u0000z",
  ]);
  ok(!result.stderr.includes("\x1b"));
});

Deno.test("escapeControls() escapes C0, DEL, C1, line separators and bidi overrides, and keeps the rest", () => {
  equal(escapeControls("a\tb\x7f\x85é☃"), "a\\tb\\u007f\\u0085é☃");
  // Unicode line separators and bidi overrides: no line that reads reversed.
  equal(
    escapeControls("a\u2028b\u2029c\u202ed\u2066e"),
    "a\\u2028b\\u2029c\\u202ed\\u2066e",
  );
});

Deno.test("a plugin named so that its options overlap another's is refused (125)", async () => {
  const result = await runPlugin(
    `export default { name: "dapr-api", afterExit() {} };\n`,
  );
  equal(result.code, 125);
  match(result.stderr, /overlap those of "dapr" \(WRAPPER_PLUGIN_DAPR_\*\)/);
});

Deno.test("optionClash(): no name may start with another's name and a dash, either way", () => {
  equal(optionClash("dapr-api", ["dapr"])?.includes('"dapr"'), true);
  equal(optionClash("istio", ["istio-proxy"])?.includes('"istio-proxy"'), true);
  equal(optionClash("istio-proxy", ["istio-proxy"]), undefined);
  equal(optionClash("notify", ["dapr", "istio-proxy"]), undefined);
  equal(optionClash("daprx", ["dapr"]), undefined);
});

Deno.test("an error whose getters throw is reported in one line, with no stack trace on stderr", async () => {
  const result = await runPlugin(
    `export default { name: "getter", afterExit() {\n` +
      `  const e = new Error("x");\n` +
      `  Object.defineProperty(e, "message", { get() { throw new Error("boom"); } });\n` +
      `  throw e;\n} };\n`,
  );
  equal(result.code, 0);
  deepStrictEqual(result.stderr.trim().split("\n"), [
    '[warn wrapper] Hook failed plugin=getter hook=afterExit error="an error that cannot be read (its name, message or toString throws)" durationMs=' +
    /durationMs=(\d+)/.exec(result.stderr)![1],
  ]);
});

Deno.test("a plugin cannot touch the job's stdin, stdout or stderr: one clear hook error, the job's bytes intact", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/std.ts`;
  await Deno.writeTextFile(
    path,
    `export default { name: "std", afterExit() {\n` +
      `  try { Deno.stdin.readSync(new Uint8Array(9)); } catch (e) { console.error(String(e)); }\n` +
      `  Deno.stdout.writeSync(new TextEncoder().encode("LEAK"));\n} };\n`,
  );
  const result = await wrapper(["-p", path, "cat"], {
    stdin: new TextEncoder().encode("INPUT"),
  });
  await Deno.remove(dir, { recursive: true });
  equal(new TextDecoder().decode(result.stdout), "INPUT");
  match(result.stderr, /\[error std\] Error: Deno\.stdin is the job's/);
  match(
    result.stderr,
    /Hook failed plugin=std hook=afterExit error="Error: Deno\.stdout is the job's: a plugin writes with ctx\.log"/,
  );
});

Deno.test("pluginOptions() gives each variable to the loaded plugin with the longest matching name", () => {
  const env = {
    WRAPPER_PLUGIN_FOO_URL: "a",
    WRAPPER_PLUGIN_FOO_BAR_URL: "b",
  };
  deepStrictEqual({ ...pluginOptions(env, "foo", ["foo", "foo-bar"]) }, {
    url: "a",
  });
  deepStrictEqual({ ...pluginOptions(env, "foo-bar", ["foo", "foo-bar"]) }, {
    url: "b",
  });
  // Without foo-bar loaded, the variable is foo's to read.
  deepStrictEqual({ ...pluginOptions(env, "foo", ["foo"]) }, {
    url: "a",
    barUrl: "b",
  });
});

Deno.test("two plugins foo and foo-bar both load, each with its own options, and both quit", async () => {
  await using one = fakePilotAgent();
  await using two = fakePilotAgent();
  const dir = await Deno.makeTempDir();
  const plugin = (name: string) =>
    `export default { name: "${name}", async afterExit(ctx) {\n` +
    `  ctx.log.info("options", { keys: Object.keys(ctx.options).join(",") });\n` +
    `  await ctx.quit(ctx.options.quitUrl!);\n} };\n`;
  await Deno.writeTextFile(`${dir}/foo.ts`, plugin("foo"));
  await Deno.writeTextFile(`${dir}/foo_bar.ts`, plugin("foo-bar"));
  const result = await wrapper(
    ["-p", `${dir}/foo.ts,${dir}/foo_bar.ts`, "true"],
    {
      env: {
        WRAPPER_PLUGIN_FOO_QUIT_URL:
          `http://127.0.0.1:${one.port}/quitquitquit`,
        WRAPPER_PLUGIN_FOO_BAR_QUIT_URL:
          `http://127.0.0.1:${two.port}/quitquitquit`,
      },
    },
  );
  await Deno.remove(dir, { recursive: true });
  equal(result.code, 0, result.stderr);
  match(result.stderr, /^\[info foo\] options keys=quitUrl$/m);
  match(result.stderr, /^\[info foo-bar\] options keys=quitUrl$/m);
  equal(one.requests.filter((r) => r.method === "POST").length, 1);
  equal(two.requests.filter((r) => r.method === "POST").length, 1);
});

Deno.test("every plugin that fails to load is reported, not only the first", async () => {
  const result = await wrapper(["-p", "./missing_a.ts,./missing_b.ts", "true"]);
  equal(result.code, 125);
  match(result.stderr, /Cannot load plugin "\.\/missing_a\.ts"/);
  match(result.stderr, /Cannot load plugin "\.\/missing_b\.ts"/);
});

Deno.test("explainLoadError(): the plugin's own file and line, the self-contained rule, never a non-module's content", () => {
  const file = { spec: "./p.ts", where: "/app/p.ts", file: true };
  equal(
    explainLoadError(
      "SyntaxError: Expression expected\n  |\n2 | x +;\n    at blob:null/2290-b8df:2:27",
      file,
    ),
    "SyntaxError: Expression expected at /app/p.ts:2:27",
  );
  // As Deno 2.9 words it, from a plugin process.
  equal(
    explainLoadError(
      "TypeError: SyntaxError: Expected ',', got '}'\n  |\n3 | };\n  | ~\n    at blob:null/79cb-ea50:3:1",
      file,
    ),
    "SyntaxError: Expected ',', got '}' at /app/p.ts:3:1",
  );
  match(
    explainLoadError(
      'Import "./other.ts" not a dependency and not in import map from "blob:null/x"',
      file,
    ),
    /^it imports "\.\/other\.ts": a plugin must be one self-contained module/,
  );
  const secret = explainLoadError("ReferenceError: hunter2 is not defined", {
    spec: "/etc/creds.yaml",
    where: "/etc/creds.yaml",
    file: true,
  });
  ok(!secret.includes("hunter2"), secret);
  match(secret, /is not a plugin module/);
});

Deno.test('explainHookError(): the sandbox explained, never "run again with --allow-…"', () => {
  equal(
    explainHookError(
      'NotCapable: Requires read access to "/etc/passwd", run again with the --allow-read flag',
    ),
    'the plugin sandbox denies read access to "/etc/passwd": plugins may only connect to localhost, 127.0.0.1 and [::1]',
  );
  equal(explainHookError("Error: boom\n    at x"), "Error: boom");
});

Deno.test("a file that is not a plugin module is refused without quoting it", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/creds.yaml`, "password: hunter2\n");
  const result = await wrapper(["-p", `${dir}/creds.yaml`, "true"]);
  await Deno.remove(dir, { recursive: true });
  equal(result.code, 125);
  ok(!result.stderr.includes("hunter2"), result.stderr);
  match(result.stderr, /creds\.yaml" is not a plugin module/);
});

Deno.test("checkWorkerMessage() refuses what a plugin's runtime could forge", () => {
  for (
    const bad of [
      null,
      "loaded",
      { kind: "loaded", name: "x" },
      { kind: "loaded", name: "x", hooks: ["__proto__"] },
      { kind: "log", level: "__proto__", message: "m", properties: {} },
      { kind: "log", level: "info", message: 1, properties: {} },
      { kind: "exit", code: "x" },
      { kind: "nope" },
    ]
  ) {
    equal(checkWorkerMessage(bad), undefined, JSON.stringify(bad));
  }
  deepStrictEqual(checkWorkerMessage({ kind: "done" }), { kind: "done" });
});

Deno.test("every line logged before the job starts is written before the job's first output (one stream for both)", async () => {
  await using plugin = await tempPlugin(
    "noisy.ts",
    `export default { name: "noisy", async beforeStart(ctx) {\n` +
      `  for (let i = 0; i < 50; i++) ctx.log.info("line " + i);\n` +
      `  console.log("console line");\n` +
      `  await new Promise((r) => setTimeout(r, 1));\n` +
      `  ctx.log.info("last before start");\n} };\n`,
  );
  const { stdout } = await new Deno.Command("sh", {
    args: [
      "-c",
      `exec "$@" 2>&1`,
      "sh",
      Deno.execPath(),
      ...WRAPPER_ARGS,
      "-p",
      `${plugin.path},echo`,
      "echo",
      "JOB-OUTPUT",
    ],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
  }).output();
  const lines = new TextDecoder().decode(stdout).split("\n");
  const job = lines.indexOf("JOB-OUTPUT");
  ok(job > 0, lines.join("\n"));
  for (const before of ["last before start", "console line", "line 49"]) {
    const at = lines.findIndex((line) => line.includes(before));
    ok(at >= 0 && at < job, `${before}: ${at} vs ${job}`);
  }
});
