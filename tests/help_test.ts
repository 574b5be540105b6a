// src/help.ts and src/settings.ts: --help from the declarations, and the
// README's settings table held to them.
import { equal, ok } from "node:assert/strict";
import { BUILTIN_PLUGINS } from "../src/plugin_source.ts";
import { builtinHelp, helpText } from "../src/help.ts";
import { optionEnvName } from "../src/plugin_options.ts";
import { SETTINGS } from "../src/settings.ts";
import { ROOT } from "./_helpers.ts";

Deno.test("helpText() lists every option each built-in declares, with its default, from the declarations", async () => {
  const builtins = await builtinHelp();
  const help = helpText(builtins);
  equal(builtins.length, Object.keys(BUILTIN_PLUGINS).length);
  for (const { name, options } of builtins) {
    ok(help.includes(`\n  ${name} `), name);
    for (const [option, spec] of Object.entries(options)) {
      ok(help.includes(`${name} ${optionEnvName(option)}`), option);
      if (spec.default !== undefined) ok(help.includes(spec.default), option);
    }
  }
  // No default is kept anywhere but in the declaration.
  for (const file of Object.values(BUILTIN_PLUGINS)) {
    const source = await Deno.readTextFile(
      new URL(`../plugins/${file}`, import.meta.url),
    );
    equal(/\?\? "http/.test(source), false, file);
  }
});

Deno.test("every setting is declared once: the README's table and --help show each variable, flag and default from settings.ts", async () => {
  const readme = await Deno.readTextFile(`${ROOT}README.md`);
  const help = helpText(await builtinHelp());
  for (const setting of Object.values(SETTINGS)) {
    const row = readme.split("\n").find((line) =>
      line.startsWith("|") && line.includes(`\`${setting.env}\``)
    );
    ok(row !== undefined, `README has no row for ${setting.env}`);
    const cells = row.split("|").map((cell) => cell.trim());
    equal(cells[3], `\`${setting.default}\``, `${setting.env} default`);
    for (const flag of "flags" in setting ? setting.flags : []) {
      if (flag !== "--check-plugin") ok(cells[1]!.includes(flag), flag);
    }
    ok(help.includes(setting.env), setting.env);
    const flat = help.replace(/\s+/g, " "); // lines wrap at 80 columns
    ok(flat.includes(`Default: ${setting.default}.`), setting.env);
  }
});
