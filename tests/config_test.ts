// src/config.ts: flags, env, durations, plugin options; pure tests.
import { deepStrictEqual, equal, throws } from "node:assert/strict";
import {
  parseConfig,
  parseDuration,
  pluginOptions,
  unusedEnvVars,
} from "../src/config.ts";
import { UsageError } from "../src/errors.ts";

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

Deno.test("parseConfig() reads --install <folder> and --install=<folder>; no folder, or a command after it, is a usage error", () => {
  const config = parseConfig(["--install", "/opt/wrapper"], {});
  equal(config.action, "install");
  equal(config.installDir, "/opt/wrapper");
  equal(parseConfig(["--install=/x"], {}).installDir, "/x");
  throws(
    () => parseConfig(["--install"], {}),
    /Option "--install" needs a folder/,
  );
  throws(() => parseConfig(["--install="], {}), /needs a folder/);
  throws(
    () => parseConfig(["--install", "/x", "--", "true"], {}),
    /No command runs with --install: remove "true"/,
  );
  throws(
    () => parseConfig(["--install=/x", "--install=/y"], {}),
    /given twice/,
  );
  throws(
    () => parseConfig(["--install=/x", "--check-plugin", "echo"], {}),
    /--install runs alone/,
  );
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
