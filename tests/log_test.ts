// src/log.ts: the text format, and the LogTape it pins.
import { equal, ok } from "node:assert/strict";
import { formatText } from "../src/log.ts";
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
});
