// src/log.ts: the text format, and the LogTape it pins.
import { equal, ok } from "node:assert/strict";
import { formatText } from "../src/log.ts";
import { wrapper } from "./_helpers.ts";
import type { LogRecord } from "@logtape/logtape";

Deno.test("formatText() names the source and renders properties as key=value", () => {
  const record = (
    category: string[],
    properties: Record<string, unknown>,
  ): LogRecord => ({
    category,
    level: "warning",
    message: ["Hook failed"],
    rawMessage: "Hook failed",
    timestamp: 0,
    properties,
  });
  equal(
    formatText(
      record(["wrapper"], {
        plugin: "echo",
        error: 'Error: "x"\nline 2',
        n: 3,
      }),
    ),
    '[warn wrapper] Hook failed plugin=echo error="Error: \\"x\\"\\nline 2" n=3\n',
  );
  equal(
    formatText(record(["wrapper", "plugin", "echo"], {})),
    "[warn echo] Hook failed\n",
  );
});

Deno.test("src/log.ts pins the same LogTape as deno.json", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  const log = await Deno.readTextFile(
    new URL("../src/log.ts", import.meta.url),
  );
  ok(log.includes(`"${config.imports["@logtape/logtape"]}"`));
  const facade = await Deno.readTextFile(
    new URL("../src/logtape.ts", import.meta.url),
  );
  ok(facade.includes(`"${config.imports["@logtape/logtape"]}"`));
});

Deno.test("a line's braces are printed as they are, with or without a {", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/braces.ts`,
      `export default { name: "braces", afterExit(ctx) {
        ctx.log.info("closing } only");
        ctx.log.info("a {b} and }} and {{");
      } };`,
    );
    const { code, stderr } = await wrapper(["-p", `${dir}/braces.ts`, "true"]);
    equal(code, 0, stderr);
    ok(stderr.includes("[info braces] closing } only\n"), stderr);
    ok(stderr.includes("[info braces] a {b} and }} and {{\n"), stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
