// What a sandboxed plugin can write, and what reaches the wrapper's stderr:
// never the job's stdout, never a forged line, never a template.
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { optionClash } from "../src/config.ts";
import { escapeControls } from "../src/log.ts";
import { wrapper } from "./_helpers.ts";

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

Deno.test("escapeControls() escapes C0, DEL and C1, and keeps the rest", () => {
  equal(escapeControls("a\tb\x7f\x85é☃"), "a\\tb\\u007f\\u0085é☃");
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
