// The job's process group, session and signal dispositions: as alone, or as
// tini runs it. The job has its own session (so its own process group);
// signals ignored when the wrapper started stay ignored; a terminal's Ctrl-C
// and Ctrl-Z reach it once; WRAPPER_SIGNAL_TARGET=group reaches its group.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import {
  fakePilotAgent,
  istioEnv,
  procFile,
  quitSent,
  ROOT,
  RunningWrapper,
  TextWaiter,
  waitUntil,
  WRAPPER_ARGS,
} from "./_helpers.ts";
import { SIGNAL_NUMBERS } from "../src/dispositions.ts";

/** Signal numbers in a `SigIgn:` mask of /proc/<pid>/status. */
function ignoredIn(status: string): number[] {
  const mask = BigInt(`0x${/SigIgn:\s*([0-9a-f]+)/.exec(status)![1]}`);
  return Array.from({ length: 64 }, (_, i) => i + 1)
    .filter((n) => (mask >> BigInt(n - 1)) & 1n);
}

/** The state letter of a process (R, S, T…), from /proc/<pid>/stat. */
function stateOf(pid: number): string {
  const stat = procFile(`${pid}/stat`);
  return stat.slice(stat.lastIndexOf(")") + 2)[0]!;
}

const JOB_TRAPS =
  'trap "echo got USR2" USR2; trap "echo got TERM; exit 3" TERM; ' +
  "echo $$; grep SigIgn /proc/self/status; echo ready; " +
  "while :; do sleep 0.01; done";

for (
  const [how, prefix, ignored] of [
    ["under nohup", ["nohup"], [1]],
    [
      "under trap '' HUP INT QUIT USR1 (a shell's background job)",
      ["sh", "-c", `trap '' HUP INT QUIT USR1; exec "$@"`, "sh"],
      [1, 2, 3, 10],
    ],
  ] as const
) {
  Deno.test(`${how}: the signals ignored at start stay ignored for the job, are not forwarded and do not end the wrapper; the others are forwarded`, async () => {
    await using run = new RunningWrapper(
      ["--log-level=debug", "sh", "-c", JOB_TRAPS],
      { prefix: [...prefix] },
    );
    await run.nextLine(); // the job's pid
    const mask = ignoredIn(await run.nextLine());
    deepEqual(mask.filter((n) => n < 32), ignored);
    equal(await run.nextLine(), "ready");
    for (const n of ignored) {
      const name = Object.entries(SIGNAL_NUMBERS).find(([, v]) => v === n)![0];
      Deno.kill(run.process.pid, name as Deno.Signal);
    }
    // An ignored signal is dropped when sent; USR2 then proves both alive.
    Deno.kill(run.process.pid, "SIGUSR2");
    equal(await run.nextLine(), "got USR2");
    Deno.kill(run.process.pid, "SIGTERM");
    equal(await run.nextLine(), "got TERM");
    const status = await run.process.status;
    const stderr = await run.stderr;
    equal(status.code, 3, stderr);
    match(stderr, /Forwarded signal signal=SIGUSR2/);
    ok(!/signal=SIG(HUP|INT|QUIT|USR1)\b/.test(stderr), stderr);
  });
}

Deno.test("the job has its own session and process group: `kill 0` at its end reaches neither the wrapper nor the quit", async () => {
  await using sidecar = fakePilotAgent();
  // Not under setsid: before, `kill 0` here signalled the test runner too.
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      ...WRAPPER_ARGS,
      "--log-level=debug",
      "-p",
      "istio-proxy",
      "sh",
      "-c",
      'ps -o pid=,pgid=,sid= -p $$; trap "kill 0" EXIT; exit 4',
    ],
    cwd: ROOT,
    env: { ...istioEnv(sidecar.port), NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(output.stderr);
  const [pid, pgid, sid] = new TextDecoder().decode(output.stdout).trim()
    .split(/\s+/);
  equal(pgid, pid);
  equal(sid, pid);
  ok([4, 143].includes(output.code), `${output.code}: ${stderr}`);
  ok(quitSent(sidecar), stderr);
  ok(!/Received signal/.test(stderr), stderr);
});

/** Run `command` on a new pseudo-terminal (util-linux `script`), typing `keys`. */
function onTerminal(command: string[]) {
  const quoted = command.map((arg) => `'${arg.replaceAll("'", `'\\''`)}'`);
  const child = new Deno.Command("script", {
    args: ["-qfec", `exec ${quoted.join(" ")}`, "/dev/null"],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const keys = child.stdin.getWriter();
  return {
    child,
    output: new TextWaiter(child.stdout),
    type: (text: string) => keys.write(new TextEncoder().encode(text)),
    [Symbol.asyncDispose]: async () => {
      try {
        child.kill("SIGKILL");
      } catch { /* ended */ }
      await child.status;
    },
  };
}

const canScript = (() => {
  try {
    return new Deno.Command("script", { args: ["--version"], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

Deno.test({
  name: `Ctrl-C and Ctrl-\\ on a terminal reach the job once each${
    canScript ? "" : " (ignored: util-linux script is missing)"
  }`,
  ignore: !canScript,
  fn: async () => {
    await using term = onTerminal([
      Deno.execPath(),
      ...WRAPPER_ARGS,
      "sh",
      "-c",
      'trap "echo got INT" INT; trap "echo got QUIT; exit 6" QUIT; echo ready; ' +
      "while :; do :; done", // busy: each signal is trapped as it comes
    ]);
    await term.output.until("ready");
    await term.type("\x03");
    await term.output.until("got INT");
    await term.type("\x1c");
    equal((await term.child.status).code, 6, term.output.text);
    await term.output.until(/got QUIT/).catch(() => {});
    equal(term.output.text.match(/got INT/g)?.length, 1, term.output.text);
  },
});

Deno.test("SIGTSTP (Ctrl-Z) stops the job, then the wrapper, as a shell expects; SIGCONT (fg) resumes both", async () => {
  await using run = new RunningWrapper(["sh", "-c", JOB_TRAPS]);
  const job = Number(await run.nextLine());
  await run.waitFor("ready");
  Deno.kill(run.process.pid, "SIGTSTP");
  await waitUntil(() => stateOf(job) === "T", "the job stopped");
  await waitUntil(
    () => stateOf(run.process.pid) === "T",
    "the wrapper stopped",
  );
  Deno.kill(run.process.pid, "SIGCONT");
  await waitUntil(() => stateOf(job) !== "T", "the job resumed");
  Deno.kill(run.process.pid, "SIGUSR2");
  equal(await run.nextLine(), "got USR2");
  Deno.kill(run.process.pid, "SIGTERM");
  equal(await run.nextLine(), "got TERM");
  equal((await run.process.status).code, 3);
});

Deno.test("WRAPPER_SIGNAL_TARGET=group: a SIGTERM reaches the job's whole group (a script that does not exec); a typo is a usage error", async () => {
  const script = 'trap ":" TERM; ' +
    `sh -c 'trap "echo inner got TERM; exit 7" TERM; echo ready; ` +
    `while :; do sleep 0.01; done'; echo "outer saw $?"`;
  await using run = new RunningWrapper(["sh", "-c", script], {
    env: { WRAPPER_SIGNAL_TARGET: "group" },
  });
  await run.waitFor("ready");
  Deno.kill(run.process.pid, "SIGTERM");
  equal(await run.nextLine(), "inner got TERM");
  equal(await run.nextLine(), "outer saw 7");
  equal((await run.process.status).code, 0, await run.stderr);

  await using typo = new RunningWrapper(["true"], {
    env: { WRAPPER_SIGNAL_TARGET: "groups" },
  });
  equal((await typo.process.status).code, 2);
  match(
    await typo.stderr,
    /Invalid WRAPPER_SIGNAL_TARGET "groups": use one of process, group/,
  );
});
