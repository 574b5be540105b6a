// Pure tests: flags, env, durations, plugin options, spec resolution, log format.
import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import {
  parseConfig,
  parseDuration,
  pluginOptions,
  unusedEnvVars,
} from "../src/config.ts";
import { UsageError } from "../src/errors.ts";
import { BUILTIN_PLUGINS, resolveSpec } from "../src/plugin_source.ts";
import { builtinHelp, helpText } from "../src/help.ts";
import { optionEnvName } from "../src/plugin_options.ts";
import { formatText } from "../src/log.ts";
import type { LogRecord } from "@logtape/logtape";
import { SETTINGS } from "../src/settings.ts";
import { ROOT } from "./_helpers.ts";

Deno.test("parseConfig() stops at the first non-option and keeps the rest untouched", () => {
  const config = parseConfig([
    "-p",
    "echo",
    "--timeout=2s",
    "ls",
    "-l",
    "--help",
  ], {});
  deepStrictEqual(config.command, ["ls", "-l", "--help"]);
  deepStrictEqual(config.plugins, ["echo"]);
  equal(config.hookTimeoutMs, 2000);
  equal(config.action, "run");
});

Deno.test("parseConfig() reads WRAPPER_* env; flags win; plugins are merged once", () => {
  const config = parseConfig([
    "--plugin",
    "a.ts,echo",
    "--log-level",
    "debug",
    "true",
  ], {
    WRAPPER_PLUGIN_PATH: " echo , https://x.example/p.ts",
    WRAPPER_LOG_LEVEL: "error",
    WRAPPER_LOG_FORMAT: "JSON",
    WRAPPER_PLUGIN_TIMEOUT: "250ms",
  });
  deepStrictEqual(config.plugins, ["a.ts", "echo", "https://x.example/p.ts"]);
  equal(config.logLevel, "debug");
  equal(config.logFormat, "json");
  equal(config.hookTimeoutMs, 250);
});

Deno.test("parseConfig() treats an empty WRAPPER_PLUGIN_PATH as no plugins", () => {
  deepStrictEqual(
    parseConfig(["true"], { WRAPPER_PLUGIN_PATH: "" }).plugins,
    [],
  );
});

Deno.test("parseConfig() returns help and version actions without a command", () => {
  equal(parseConfig(["--help"], {}).action, "help");
  equal(parseConfig(["-V"], {}).action, "version");
  equal(parseConfig(["-V", "-h"], {}).action, "help");
});

Deno.test("parseConfig() throws UsageError for bad input", () => {
  for (
    const args of [[], ["-x", "true"], ["--plugin"], ["--plugin=", "true"], [
      "--",
      "",
    ], ["--log-level=loud", "true"]]
  ) {
    throws(() => parseConfig(args, {}), UsageError, JSON.stringify(args));
  }
});

Deno.test("parseDuration() takes h, m, s, ms, largest first, and bare seconds, within (0, 1h]", () => {
  equal(parseDuration("500ms", 1, "t"), 500);
  equal(parseDuration("1.5s", 1, "t"), 1500);
  equal(parseDuration("2m", 1, "t"), 120_000);
  equal(parseDuration("3", 1, "t"), 3000);
  equal(parseDuration(undefined, 42, "t"), 42);
  equal(parseDuration("1h", 1, "t"), 3_600_000);
  for (
    const bad of ["", "-1s", "1h1s", "0", "61m", "1 s", "abc", "1s1m", "1m1m"]
  ) {
    throws(() => parseDuration(bad, 1, "t"), UsageError, bad);
  }
});

Deno.test("pluginOptions() maps WRAPPER_PLUGIN_<NAME>_<OPTION> to camelCase keys", () => {
  const env = {
    WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL: "http://127.0.0.1:1/q",
    WRAPPER_PLUGIN_ISTIO_PROXY_X: "1",
    WRAPPER_PLUGIN_ISTIO_URL: "other plugin",
    WRAPPER_PLUGIN_ISTIO_PROXY_: "no key",
  };
  deepStrictEqual({ ...pluginOptions(env, "istio-proxy") }, {
    quitUrl: "http://127.0.0.1:1/q",
    x: "1",
  });
  deepStrictEqual(unusedEnvVars(env, ["istio-proxy"]), [
    "WRAPPER_PLUGIN_ISTIO_URL",
  ]);
  deepStrictEqual(
    unusedEnvVars({ WRAPPER_PLUGIN_PATH: "", HOME: "/" }, []),
    [],
  );
});

Deno.test("resolveSpec() tells built-ins, files and URLs apart", () => {
  equal(resolveSpec("echo").kind, "builtin");
  equal(
    resolveSpec("istio-proxy").url.pathname.endsWith("/plugins/istio_proxy.ts"),
    true,
  );
  const file = resolveSpec("./my plugin?.ts", { cwd: "/srv" });
  equal(file.kind, "file");
  equal(decodeURIComponent(file.url.pathname), "/srv/my plugin?.ts");
  equal(
    resolveSpec("plugin.js", { cwd: "/srv" }).url.href,
    "file:///srv/plugin.js",
  );
  equal(resolveSpec("/abs/Quit_Hook.ts").fallbackName, "quit-hook");
  equal(resolveSpec("https://example.com/a/p.ts").kind, "remote");
  equal(resolveSpec("http://127.0.0.1:8080/p.ts").kind, "remote");
  equal(resolveSpec("http://[::1]/p.ts").kind, "remote");
  equal(resolveSpec("file:///x/y.ts").kind, "file");
  for (
    const bad of ["nope", "http://10.0.0.1/p.ts", "ftp://h/p.ts", "https://"]
  ) {
    throws(() => resolveSpec(bad), UsageError, bad);
  }
});

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

Deno.test("src/log.ts pins the same LogTape as deno.json", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  const log = await Deno.readTextFile(
    new URL("../src/log.ts", import.meta.url),
  );
  ok(log.includes(`"${config.imports["@logtape/logtape"]}"`));
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
