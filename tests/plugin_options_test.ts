// Declared plugin options and the settings an operator can mistype: every
// mistake is reported before the job starts, and the sidecars are still told
// to quit.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import {
  fakePilotAgent,
  istioEnv,
  quitSent,
  tempPlugin,
  wrapper,
} from "./_helpers.ts";
import {
  optionEnvName,
  optionProblems,
  withDefaults,
} from "../src/plugin_options.ts";
import { checkOptions } from "../src/plugin_runtime.ts";
import { parseDuration, readConfig, unknownSettings } from "../src/config.ts";

const HOSTS = ["localhost", "127.0.0.1", "[::1]"];
const DECLARED = {
  readyUrl: {
    description: "r",
    default: "http://localhost:1/",
    loopback: true,
  },
  quitUrl: { description: "q", default: "http://localhost:2/", loopback: true },
  apiToken: { description: "t" },
};

Deno.test("optionProblems: an undeclared option names the nearest declared one, or lists them; a non-loopback URL is refused, off is not", () => {
  deepEqual(optionProblems("istio-proxy", DECLARED, {}, HOSTS), []);
  deepEqual(
    optionProblems("istio-proxy", DECLARED, { quitUlr: "x" }, HOSTS),
    [
      'Unknown option WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_ULR of plugin "istio-proxy": did you mean WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL?',
    ],
  );
  match(
    optionProblems("p", DECLARED, { colour: "x" }, HOSTS)[0]!,
    /its options are READY_URL, QUIT_URL, API_TOKEN$/,
  );
  match(optionProblems("p", {}, { x: "1" }, HOSTS)[0]!, /it has no options$/);
  for (const url of ["http://10.0.0.1/", "ftp://localhost/", "localhost:1"]) {
    match(
      optionProblems("p", DECLARED, { quitUrl: url }, HOSTS)[0]!,
      /^WRAPPER_PLUGIN_P_QUIT_URL ".*" is not an http\(s\) URL on localhost/,
    );
  }
  for (const url of ["off", "https://[::1]:8/x", "http://127.0.0.1/"]) {
    deepEqual(optionProblems("p", DECLARED, { quitUrl: url }, HOSTS), []);
  }
  // A declared default is held to the same rule.
  equal(
    optionProblems(
      "p",
      {
        quitUrl: { description: "", default: "http://x/", loopback: true },
      },
      {},
      HOSTS,
    ).length,
    1,
  );
});

Deno.test("withDefaults: defaults fill ctx.options; a refused URL keeps its default, so the quit still goes somewhere", () => {
  deepEqual(withDefaults(DECLARED, { apiToken: "t" }), {
    apiToken: "t",
    readyUrl: "http://localhost:1/",
    quitUrl: "http://localhost:2/",
  });
  equal(
    withDefaults(DECLARED, { quitUrl: "http://10.1.1.1/" }).quitUrl,
    "http://localhost:2/",
  );
  equal(withDefaults(DECLARED, { quitUrl: "off" }).quitUrl, "off");
  deepEqual(withDefaults(undefined, { a: "1" }), { a: "1" });
  equal(optionEnvName("v2ApiUrl"), "V2_API_URL");
});

Deno.test("checkOptions: what a plugin declares is checked, and kept as plain data", () => {
  deepEqual(checkOptions({ a: { description: "d", default: "x" } }), {
    a: { description: "d", default: "x" },
  });
  for (
    const [bad, reason] of [
      [[], /must be an object/],
      [{ Bad: { description: "" } }, /camelCase/],
      [{ a: { description: 1 } }, /description must be a string/],
      [{ a: { description: "", default: 1 } }, /default must be a string/],
      [{ a: { description: "", loopback: "yes" } }, /loopback must be true/],
      [{ a: null }, /description/],
    ] as const
  ) match(checkOptions(bad) as string, reason);
});

Deno.test("a typo in a built-in's option: exit 2 before the job, with the variable it meant; the sidecar is still told to quit", async () => {
  await using sidecar = fakePilotAgent();
  const result = await wrapper(["-p", "istio-proxy", "echo", "job ran"], {
    env: {
      ...istioEnv(sidecar.port),
      WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_ULR: "http://localhost:1/",
    },
  });
  equal(result.code, 2, result.stderr);
  equal(result.stdout.length, 0); // the job never ran
  match(result.stderr, /did you mean WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL\?/);
  ok(quitSent(sidecar), result.stderr);
});

Deno.test("a non-loopback quit URL is refused before the job (exit 2), and the quit goes to the default instead", async () => {
  await using sidecar = fakePilotAgent();
  const result = await wrapper(["-p", "echo,istio-proxy", "echo", "ran"], {
    env: {
      WRAPPER_PLUGIN_ISTIO_PROXY_READY_URL:
        `http://127.0.0.1:${sidecar.port}/healthz/ready`,
      WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL: "http://10.0.0.1:15020/quitquitquit",
    },
  });
  equal(result.code, 2, result.stderr);
  equal(result.stdout.length, 0);
  match(
    result.stderr,
    /QUIT_URL "http:\/\/10\.0\.0\.1:15020\/quitquitquit" is not/,
  );
  match(result.stderr, /url=http:\/\/localhost:15020\/quitquitquit/);
});

Deno.test("a file plugin's declared defaults reach ctx.options; an undeclared variable for it is an error; bad declarations fail its load (125)", async () => {
  await using plugin = await tempPlugin(
    "shout.ts",
    `export default { name: "shout",\n` +
      `  options: { word: { description: "what to say", default: "hey" } },\n` +
      `  afterExit(ctx) { ctx.log.info("said", { word: ctx.options.word }); },\n};\n`,
  );
  const ok1 = await wrapper(["-p", plugin.path, "true"]);
  equal(ok1.code, 0, ok1.stderr);
  match(ok1.stderr, /\[info shout\] said word=hey/);
  const set = await wrapper(["-p", plugin.path, "true"], {
    env: { WRAPPER_PLUGIN_SHOUT_WORD: "ho" },
  });
  match(set.stderr, /said word=ho/);
  const typo = await wrapper(["-p", plugin.path, "true"], {
    env: { WRAPPER_PLUGIN_SHOUT_WROD: "ho" },
  });
  equal(typo.code, 2, typo.stderr);
  match(typo.stderr, /did you mean WRAPPER_PLUGIN_SHOUT_WORD\?/);
  match(typo.stderr, /said word=hey/); // its afterExit still ran

  await using bad = await tempPlugin(
    "bad.ts",
    `export default { name: "bad", options: { word: { default: "x" } },\n` +
      `  afterExit() {} };\n`,
  );
  const load = await wrapper(["-p", bad.path, "true"]);
  equal(load.code, 125, load.stderr);
  match(load.stderr, /option "word": description must be a string/);
});

Deno.test("a mistyped WRAPPER_* setting is a usage error before the job; a plugin option for a plugin not loaded only warns", async () => {
  deepEqual(
    unknownSettings({
      WRAPPER_PLUGINS: "x",
      WRAPPER_PLUGIN_TIMOUT: "1",
      WRAPPER_PLUGIN_TIMEOUT_MS: "1",
      WRAPPER_PLUGIN_ISTIO_PROXY_QUIT_URL: "x",
      WRAPPER_LOG_LEVEL: "info",
    }),
    ["WRAPPER_PLUGINS", "WRAPPER_PLUGIN_TIMEOUT_MS", "WRAPPER_PLUGIN_TIMOUT"],
  );
  const typo = await wrapper(["echo", "ran"], {
    env: { WRAPPER_PLUGINS: "istio-proxy" },
  });
  equal(typo.code, 2);
  equal(typo.stdout.length, 0);
  match(typo.stderr, /Unknown variable WRAPPER_PLUGINS: no such setting/);
  const elsewhere = await wrapper(["true"], {
    env: { WRAPPER_PLUGIN_LINKERD_QUIT_URL: "http://localhost:1/" },
  });
  equal(elsewhere.code, 0);
  match(elsewhere.stderr, /Ignoring variable.*WRAPPER_PLUGIN_LINKERD_QUIT_URL/);
});

Deno.test("durations: 1m30s and 1.5s are read; a mistake names the flag that gave it; an empty WRAPPER_PLUGIN_PATH warns", () => {
  equal(parseDuration("1m30s", 0, "x"), 90_000);
  equal(parseDuration("1h", 0, "x"), 3_600_000);
  equal(parseDuration("2s500ms", 0, "x"), 2500);
  const { problems } = readConfig(["--timeout", "0", "true"], {});
  match(problems[0]!.message, /for --timeout is out of range/);
  const fromEnv = readConfig(["true"], { WRAPPER_PLUGIN_TIMEOUT: "0" });
  match(fromEnv.problems[0]!.message, /for WRAPPER_PLUGIN_TIMEOUT is/);
  const empty = readConfig(["true"], { WRAPPER_PLUGIN_PATH: " " });
  match(empty.warnings[0]!, /WRAPPER_PLUGIN_PATH is set but empty/);
  deepEqual(
    readConfig(["-p", "echo", "-p", "echo", "true"], {}).config.plugins,
    [
      "echo",
    ],
  );
});

Deno.test("hostile declarations and names: Object.prototype names are plain options, a non-loopback default fails the load, a name starting with path- or timeout- is refused", async () => {
  const ctor = {
    constructor: { description: "c", default: "http://localhost:1/" },
  };
  deepEqual(
    optionProblems("p", { ...ctor, toString: { description: "t" } }, {}, HOSTS),
    [],
  );
  equal(withDefaults(ctor, {}).constructor, "http://localhost:1/");
  equal(withDefaults({}, {}).toString, undefined);
  match(
    checkOptions({
      u: { description: "", default: "http://evil.example/", loopback: true },
    }) as string,
    /its default "http:\/\/evil\.example\/" is not an http\(s\) URL on localhost/,
  );
  await using named = await tempPlugin(
    "tn.ts",
    `export default { name: "timeout-notifier", afterExit() {} };\n`,
  );
  const refused = await wrapper(["-p", named.path, "true"]);
  equal(refused.code, 125);
  match(
    refused.stderr,
    /a name starting with "timeout-" could never be given options/,
  );
});

Deno.test("Kubernetes' service variables of a Service named wrapper are not the wrapper's settings; a command after --help is a usage error", async () => {
  deepEqual(
    unknownSettings({
      WRAPPER_SERVICE_HOST: "10.0.0.1",
      WRAPPER_SERVICE_PORT_HTTP: "80",
      WRAPPER_PORT: "tcp://10.0.0.1:80",
      WRAPPER_PORT_80_TCP_ADDR: "10.0.0.1",
      WRAPPER_API_SERVICE_HOST: "10.0.0.2",
      WRAPPER_SERVICE: "x",
    }),
    ["WRAPPER_SERVICE"],
  );
  const linked = await wrapper(["true"], {
    env: {
      WRAPPER_SERVICE_HOST: "10.0.0.1",
      WRAPPER_PORT: "tcp://10.0.0.1:80",
    },
  });
  equal(linked.code, 0, linked.stderr);
  equal(linked.stderr, "");
  const help = await wrapper(["--help", "true"]);
  equal(help.code, 2);
  match(help.stderr, /No command runs with --help: remove "true"/);
});

Deno.test("--check-plugin reports what a run would stop on (exit 2), escapes a plugin's text, and an option mistake is one line even with logging off", async () => {
  await using plugin = await tempPlugin(
    "ansi.ts",
    `export default { name: "ansi",\n` +
      `  options: { word: { description: "a\\u001b[2J\\nWRAPPER_FAKE: ok\\u202e" } },\n` +
      `  afterExit() {} };\n`,
  );
  const check = await wrapper(["--check-plugin", plugin.path], {
    env: { WRAPPER_PLUGIN_ANSI_WROD: "x" },
  });
  equal(check.code, 2, check.stderr);
  match(check.stderr, /did you mean WRAPPER_PLUGIN_ANSI_WORD\?/);
  const text = new TextDecoder().decode(check.stdout);
  ok(!text.includes("\u001b") && !text.includes("\u202e"), text);
  ok(!text.includes("\nWRAPPER_FAKE"), text);
  const quiet = await wrapper(["-p", plugin.path, "true"], {
    env: { WRAPPER_PLUGIN_ANSI_WROD: "x", WRAPPER_LOG_LEVEL: "off" },
  });
  equal(quiet.code, 2);
  match(quiet.stderr, /^wrapper: Unknown option WRAPPER_PLUGIN_ANSI_WROD/);
});

Deno.test("the http plugin's endpoint lists and the switches are checked before the job: a JSON typo or a remote URL is exit 2; VERIFY=off means off", async () => {
  const lists = { description: "", loopbackList: true };
  const verify = { description: "", default: "true", switch: true };
  deepEqual(
    optionProblems("http", { quit: lists }, {
      quit: "http://localhost:1/a, http://127.0.0.1:2/b",
    }, HOSTS),
    [],
  );
  match(
    optionProblems("http", { quit: lists }, {
      quit: '[{"url":"http://127.0.0.1:1/",}]',
    }, HOSTS)[0]!,
    /is not a JSON array of \{"url", …\}$/,
  );
  match(
    optionProblems("http", { quit: lists }, {
      quit: "http://10.0.0.5:15020/quitquitquit",
    }, HOSTS)[0]!,
    /is not an http\(s\) URL on localhost/,
  );
  match(
    optionProblems("c", { verify }, { verify: "maybe" }, HOSTS)[0]!,
    /is not a switch/,
  );
  equal(withDefaults({ verify }, { verify: "OFF" }).verify, "false");
  equal(withDefaults({ verify }, {}).verify, "true");

  const late = await wrapper(["-p", "http", "echo", "JOB"], {
    env: { WRAPPER_PLUGIN_HTTP_QUIT: '[{"url":"http://127.0.0.1:1/quit",}]' },
  });
  equal(late.code, 2, late.stderr);
  equal(late.stdout.length, 0); // before the job, not after it
  match(late.stderr, /WRAPPER_PLUGIN_HTTP_QUIT .* is not a JSON array/);
});
