// The job's process group, session and signal dispositions: as alone, or as
// tini runs it. The job has its own session (so its own process group);
// signals ignored when the wrapper started stay ignored; a terminal's Ctrl-C
// and Ctrl-Z reach it once; WRAPPER_SIGNAL_TARGET=group reaches its group.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import {
  AS_PID_1,
  canUnsharePid,
  descendants,
  fakePilotAgent,
  istioEnv,
  procFile,
  quitSent,
  ROOT,
  RunningWrapper,
  TextWaiter,
  waitUntil,
  within,
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

/** Run the wrapper on `sh -c script` on a new pseudo-terminal (util-linux `script`). */
function onTerminal(script: string) {
  const command = [Deno.execPath(), ...WRAPPER_ARGS, "sh", "-c", script];
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

const canUnshare = canUnsharePid();

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
    await using term = onTerminal(
      'trap "echo got INT" INT; trap "echo got QUIT; exit 6" QUIT; echo ready; ' +
        "while :; do :; done", // busy: each signal is trapped as it comes
    );
    await term.output.until("ready");
    await term.type("\x03");
    await term.output.until("got INT");
    await term.type("\x1c");
    equal((await term.child.status).code, 6, term.output.text);
    await term.output.until(/got QUIT/).catch(() => {});
    equal(term.output.text.match(/got INT/g)?.length, 1, term.output.text);
  },
});

Deno.test({
  name:
    `Ctrl-Z on a terminal stops the job, then the wrapper, as a shell expects; SIGCONT (fg) resumes both${
      canScript ? "" : " (ignored: util-linux script is missing)"
    }`,
  ignore: !canScript,
  fn: async () => {
    // The job waits on a child it started once: a shell that forks in a loop
    // can be caught by the stop between vfork and exec, and then shows "D"
    // (blocked on its stopped child), not "T", though all is stopped.
    await using term = onTerminal(
      "echo \"pids $$ $PPID\"; trap 'echo got TERM; kill $!; exit 3' TERM; " +
        "sleep 1000 & echo ready; while :; do wait; done",
    );
    await term.output.until("ready");
    const [, job, wrapper] = /pids (\d+) (\d+)/.exec(term.output.text)!.map(
      Number,
    );
    await term.type("\x1a"); // Ctrl-Z
    await waitUntil(() => stateOf(job!) === "T", "the job stopped");
    await waitUntil(() => stateOf(wrapper!) === "T", "the wrapper stopped");
    // `fg`: SIGCONT to the stopped (script, which stopped with its child,
    // plays the shell that would send it to the whole group).
    Deno.kill(term.child.pid, "SIGCONT");
    Deno.kill(wrapper!, "SIGCONT");
    await waitUntil(() => stateOf(job!) !== "T", "the job resumed");
    Deno.kill(wrapper!, "SIGTERM");
    await within(term.output.until("got TERM"), "the job's TERM trap");
    equal((await term.child.status).code, 3, term.output.text);
  },
});

for (const init of [false, true]) {
  Deno.test({
    name: `a SIGTSTP that is not a terminal's Ctrl-Z stops nothing (${
      init ? "as PID 1" : "not as PID 1"
    }): a stray one cannot hang the pod${
      init && !canUnshare ? " (ignored: no PID namespace)" : ""
    }`,
    ignore: init && !canUnshare,
    fn: async () => {
      await using run = new RunningWrapper(["sh", "-c", JOB_TRAPS], {
        ...(init ? { prefix: [...AS_PID_1] } : {}),
      });
      const job = Number(await run.nextLine());
      await run.waitFor("ready");
      const wrapper = init ? descendants(run.process.pid)[0]! : run.process.pid;
      Deno.kill(wrapper, "SIGTSTP");
      Deno.kill(wrapper, "SIGUSR2"); // after the TSTP: both still run
      equal(await run.nextLine(), "got USR2");
      if (!init) equal(stateOf(job) === "T", false);
      Deno.kill(wrapper, "SIGTERM");
      equal(await run.nextLine(), "got TERM");
      equal((await run.process.status).code, 3);
    },
  });
}

Deno.test("a job that stopped itself still gets the SIGTERM of a pod deletion: SIGCONT follows it", async () => {
  await using run = new RunningWrapper([
    "sh",
    "-c",
    'trap "echo got TERM; exit 9" TERM; echo ready; kill -STOP $$; sleep 30',
  ]);
  await run.waitFor("ready");
  Deno.kill(run.process.pid, "SIGTERM");
  equal(await run.nextLine(), "got TERM");
  equal((await run.process.status).code, 9);
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
    /Invalid WRAPPER_SIGNAL_TARGET "groups": use one of auto, process, group/,
  );
});

Deno.test({
  name:
    `as PID 1 with every signal it listens to ignored at start, a SIGTERM, SIGINT or SIGHUP is dropped, not a crash: the job's code and the quit stand${
      canUnshare ? "" : " (ignored: no PID namespace)"
    }`,
  ignore: !canUnshare,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    const go = `${dir}/go`;
    const numbers = "1 2 3 6 10 12 14 15 16 18 20 23 24 25 26 27 28 29 30 31";
    await using run = new RunningWrapper([
      "-p",
      "echo",
      "sh",
      "-c",
      `echo ready; while [ ! -e ${go} ]; do sleep 0.01; done; exit 3`,
    ], {
      prefix: [
        ...AS_PID_1,
        "sh",
        "-c",
        `trap '' ${numbers}; exec "$@"`,
        "sh",
      ],
    });
    await run.waitFor("ready");
    const wrapper = descendants(run.process.pid)[0]!;
    for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
      Deno.kill(wrapper, signal); // ignored: dropped as it is sent
    }
    await Deno.writeTextFile(go, "");
    equal((await run.process.status).code, 3, await run.stderr);
    match(await run.stderr, /\[info echo\] Command ended code=3/);
    await Deno.remove(dir, { recursive: true });
  },
});
