// Running the command: exit codes, stdio, signals, PID 1, SIGUSR1.
import { inspectorGuardWanted } from "../src/config.ts";
import { deepStrictEqual, equal, match, ok } from "node:assert/strict";
import { ENV_VARS } from "../src/config.ts";
import { FORWARDED_SIGNALS, STOP_SIGNALS } from "../src/signals.ts";
import {
  AS_PID_1,
  canUnsharePid,
  FIXTURES,
  ROOT,
  RunningWrapper,
  SIGNALS_CHILD,
  TextWaiter,
  wrapper,
  WRAPPER_ARGS,
} from "./_helpers.ts";

const linux = Deno.build.os === "linux";

for (const code of [0, 1, 7, 255]) {
  Deno.test(`wrapper exits ${code} when the command exits ${code}`, async () => {
    const result = await wrapper(["sh", "-c", `exit ${code}`]);
    equal(result.code, code);
    equal(result.stderr, "");
  });
}

for (
  const [signal, number] of [["TERM", 15], ["INT", 2], ["HUP", 1], [
    "USR1",
    10,
  ]] as const
) {
  Deno.test({
    name: `wrapper exits ${128 + number} when the command dies of SIG${signal}`,
    ignore: !linux,
    fn: async () => {
      const result = await wrapper(["sh", "-c", `kill -${signal} $$`]);
      equal(result.code, 128 + number);
    },
  });
}

Deno.test("wrapper exits 127 with one line when the command is not found", async () => {
  const result = await wrapper(["no-such-command-here"]);
  equal(result.code, 127);
  match(
    result.stderr,
    /^\[error wrapper\] Cannot run "no-such-command-here": command not found code=127\n$/,
  );
});

Deno.test("wrapper exits 126 when the command is not executable or a directory", async () => {
  const file = await Deno.makeTempFile();
  await Deno.chmod(file, 0o644);
  for (const target of [file, ROOT]) {
    const result = await wrapper([target]);
    equal(result.code, 126, target);
    match(result.stderr, /Cannot run .*permission denied/);
  }
  await Deno.remove(file);
});

for (
  const [args, env, pattern] of [
    [[], {}, /No command given/],
    [["--bogus", "true"], {}, /Unknown option "--bogus"/],
    [["--timeout", "soon", "true"], {}, /Invalid duration "soon"/],
    [["--timeout"], {}, /Option "--timeout" needs a value/],
    [
      ["true"],
      { WRAPPER_LOG_LEVEL: "loud" },
      /Invalid WRAPPER_LOG_LEVEL "loud"/,
    ],
    [["--log-format", "xml", "true"], {}, /Invalid --log-format "xml"/],
    [["true"], { WRAPPER_PLUGIN_TIMEOUT: "0s" }, /out of range/],
    [["true"], { WRAPPER_PLUGIN_PATH: " , " }, /Empty plugin spec/],
  ] as const
) {
  Deno.test(`wrapper exits 2 with a one-line error for ${JSON.stringify([...args, env])}`, async () => {
    const result = await wrapper([...args], { env });
    equal(result.code, 2);
    match(result.stderr, pattern);
    match(result.stderr, /^wrapper: [^\n]+ \(see "wrapper --help"\)\n$/);
  });
}

Deno.test("wrapper passes everything from the command on untouched", async () => {
  const result = await wrapper([
    "--log-level=error",
    "--",
    "printf",
    "%s|",
    "--help",
    "-l",
    "--",
    "--plugin",
    "",
  ]);
  equal(result.code, 0);
  equal(new TextDecoder().decode(result.stdout), "--help|-l|--|--plugin||");
});

Deno.test("wrapper --help lists every option and variable; --version prints the version", async () => {
  const help = await wrapper(["--help"]);
  equal(help.code, 0);
  const text = new TextDecoder().decode(help.stdout);
  for (
    const word of [
      "--plugin",
      "--timeout",
      "--log-level",
      "--log-format",
      "--version",
      "WRAPPER_PLUGIN_PATH",
      "WRAPPER_PLUGIN_TIMEOUT",
      "WRAPPER_LOG_LEVEL",
      "WRAPPER_LOG_FORMAT",
      "WRAPPER_PLUGIN_<NAME>_<OPTION>",
      ...Object.values(ENV_VARS),
      "125",
    ]
  ) ok(text.includes(word), word);
  const version = await wrapper(["--version"]);
  match(new TextDecoder().decode(version.stdout), /^wrapper \d+\.\d+\.\d+\n$/);
});

Deno.test("wrapper passes stdin, stdout and stderr through byte for byte", async () => {
  const data = new Uint8Array(1 << 20);
  for (let i = 0; i < data.length; i += 65536) {
    crypto.getRandomValues(data.subarray(i, i + 65536));
  }
  const out = await wrapper(["cat"], { stdin: data });
  equal(out.code, 0);
  deepStrictEqual(out.stdout, data);
  const err = await wrapper(["sh", "-c", "cat >&2"], { stdin: data });
  equal(err.code, 0);
  equal(err.stdout.length, 0);
  deepStrictEqual(err.stderrBytes, data);
});

Deno.test({
  name: "wrapper forwards every signal to the command while it runs",
  ignore: !linux,
  fn: async () => {
    await using run = new RunningWrapper([...SIGNALS_CHILD]);
    await run.waitFor("ready");
    // Every forwarded signal, SIGTERM last (the child exits on it).
    const order = [
      ...FORWARDED_SIGNALS.filter((signal) => signal !== "SIGTERM"),
      "SIGTERM" as const,
    ];
    for (const signal of order) {
      run.process.kill(signal);
      // A stop signal is followed by SIGCONT (a stopped job can act on it);
      // the job may handle the two in either order, and exits on SIGTERM.
      const lines: string[] = [];
      while (!lines.includes(`got ${signal}`)) lines.push(await run.nextLine());
      const cont = STOP_SIGNALS.includes(signal) && signal !== "SIGTERM";
      if (cont && !lines.includes("got SIGCONT")) {
        lines.push(await run.nextLine());
      }
      const allowed = [
        `got ${signal}`,
        ...(STOP_SIGNALS.includes(signal) ? ["got SIGCONT"] : []),
      ];
      ok(lines.every((line) => allowed.includes(line)), `${signal}: ${lines}`);
      if (cont) ok(lines.includes("got SIGCONT"), signal);
    }
    equal((await run.process.status).code, 0);
  },
});

Deno.test({
  name: "SIGUSR1 reaches the command and opens no inspector on 127.0.0.1:9229",
  ignore: !linux,
  fn: async () => {
    // The child says "ready" after 700 ms: past Deno's 500 ms grace, after
    // which `deno run` would start its inspector on SIGUSR1.
    await using run = new RunningWrapper([...SIGNALS_CHILD, "700"]);
    await run.waitFor("ready");
    run.process.kill("SIGUSR1");
    equal(await run.nextLine(), "got SIGUSR1");
    const inspector = await fetch("http://127.0.0.1:9229/json/list").then(
      (response) => response.text(),
      (error: Error) => `refused: ${error.message}`,
    );
    match(inspector, /^refused/);
    run.process.kill("SIGTERM");
    // The SIGCONT that follows SIGTERM may be handled first.
    let line = await run.nextLine();
    if (line === "got SIGCONT") line = await run.nextLine();
    equal(line, "got SIGTERM");
    equal((await run.process.status).code, 0);
    const stderr = await run.stderr;
    ok(!stderr.includes("Debugger listening"), stderr);
  },
});

Deno.test({
  name:
    "WRAPPER_INSPECTOR_GUARD=off leaves 127.0.0.1:9229 to the job; on (the default) the wrapper holds it",
  ignore: !linux,
  fn: async () => {
    const job = [
      Deno.execPath(),
      "eval",
      `try { Deno.listen({ hostname: "127.0.0.1", port: 9229 }).close(); console.log("bound"); } catch (e) { console.log(e.name); }`,
    ];
    const off = await wrapper(job, { env: { WRAPPER_INSPECTOR_GUARD: "off" } });
    equal(off.code, 0, off.stderr);
    equal(new TextDecoder().decode(off.stdout).trim(), "bound");
    const on = await wrapper(job);
    equal(new TextDecoder().decode(on.stdout).trim(), "AddrInUse");
    // Only what readConfig reads as off turns it off; a typo is reported.
    equal(inspectorGuardWanted(undefined), true);
    equal(inspectorGuardWanted("OFF"), false);
    equal(inspectorGuardWanted("false"), false);
    equal(inspectorGuardWanted("of"), true);
    const typo = await wrapper(["true"], {
      env: { WRAPPER_INSPECTOR_GUARD: "of" },
    });
    equal(typo.code, 2);
    match(typo.stderr, /Invalid WRAPPER_INSPECTOR_GUARD "of"/);
  },
});

Deno.test({
  name:
    "control: plain deno run does open an inspector on SIGUSR1 after 500 ms",
  ignore: !linux,
  fn: async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", `${FIXTURES}signals.ts`, "700"],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = new TextWaiter(child.stdout);
    const stderr = new TextWaiter(child.stderr);
    await stdout.until("ready");
    child.kill("SIGUSR1");
    await stdout.until("got SIGUSR1");
    await stderr.until(/Debugger listening|Failed to start inspector/);
    child.kill("SIGTERM");
    await child.status;
    await stdout.cancel();
    await stderr.cancel();
    // Either it opened (the hazard), or a wrapper from another test holds the port.
    match(
      stderr.text,
      /Debugger listening on ws:\/\/127\.0\.0\.1:9229|Failed to start inspector/,
    );
  },
});

Deno.test({
  name: "wrapper as PID 1 forwards SIGTERM after 500 ms without crashing",
  ignore: !canUnsharePid(),
  fn: async () => {
    const [unshare, ...namespace] = AS_PID_1;
    const child = new Deno.Command(unshare!, {
      args: [
        ...namespace,
        Deno.execPath(),
        ...WRAPPER_ARGS,
        ...SIGNALS_CHILD,
        "700",
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stdout = new TextWaiter(child.stdout);
    await stdout.until("ready");
    // The wrapper is unshare's only child, and PID 1 in its namespace.
    const children = await readProc(`${child.pid}/task/${child.pid}/children`);
    const pid = Number(children.trim().split(" ")[0]);
    const status = await readProc(`${pid}/status`);
    match(status, /NSpid:\s+\d+\s+1\n/);
    Deno.kill(pid, "SIGTERM");
    await stdout.until("got SIGTERM");
    const { code } = await child.status;
    await stdout.cancel();
    const stderr = await new Response(child.stderr).text();
    equal(code, 0, stderr);
  },
});

/** Read a /proc file (Deno asks --allow-all for /proc; cat needs only --allow-run). */
async function readProc(path: string): Promise<string> {
  const { stdout } = await new Deno.Command("cat", { args: [`/proc/${path}`] })
    .output();
  return new TextDecoder().decode(stdout);
}
