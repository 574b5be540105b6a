// The wrapper as a job's init: as PID 1 in a fresh PID namespace (unshare),
// and the small things an init must get right (PATH unset, broken pipes).
// What tini and dumb-init do for a job, it does too.
import { equal, match } from "node:assert/strict";
import {
  AS_PID_1,
  canUnsharePid,
  ROOT,
  RunningWrapper,
  textOutput,
  within,
  WRAPPER_ARGS,
} from "./_helpers.ts";
import { jobEnv, searchDefaultPath, withoutDenosFolder } from "../src/run.ts";

const canUnshare = canUnsharePid();
const why = canUnshare
  ? ""
  : " (ignored: unshare cannot make a PID namespace here)";

/** Run the wrapper as PID 1 of a new PID namespace, with its own /proc. */
function asInit(args: string[], wrapperArgs = WRAPPER_ARGS) {
  const [unshare, ...namespace] = AS_PID_1;
  return textOutput(
    unshare!,
    [...namespace, Deno.execPath(), ...wrapperArgs, ...args],
    { cwd: ROOT, env: { NO_COLOR: "1" } },
  );
}

/**
 * A job that leaves `n` orphans behind (each exits at once), waits until the
 * zombies number `until` (`-eq 0`: all reaped) or 5 s have passed, prints how
 * many there are, and exits 7.
 */
const ORPHANS = (n: number, until = "-eq 0") =>
  `for i in $(seq ${n}); do sh -c 'true &'; done; ` +
  "zombies() { grep -l '^State:.*Z' /proc/[0-9]*/status 2>/dev/null | wc -l; }; " +
  `for i in $(seq 100); do [ "$(zombies)" ${until} ] && break; sleep 0.05; done; ` +
  'echo "zombies $(zombies)"; exit 7';

Deno.test({
  name:
    `as PID 1 the wrapper reaps orphans: 50 leave no zombie, and the job's and a plugin process's own statuses still reach Deno${why}`,
  ignore: !canUnshare,
  fn: async () => {
    const result = await asInit([
      "--log-level=debug",
      "-p",
      "plugins/echo.ts",
      "sh",
      "-c",
      ORPHANS(50),
    ]);
    equal(result.code, 7, result.stderr);
    equal(result.stdout.trim(), "zombies 0", result.stderr);
    // The plugin process's afterExit ran: its status was not stolen either.
    match(result.stderr, /\[info echo\] Command ended .*code=7/);
  },
});

Deno.test({
  name:
    `as PID 1 without --allow-ffi the wrapper says orphans will not be reaped, and runs the job${why}`,
  ignore: !canUnshare,
  fn: async () => {
    const result = await asInit(
      ["sh", "-c", ORPHANS(3, "-ge 3")],
      WRAPPER_ARGS.filter((arg) => arg !== "--allow-ffi"),
    );
    equal(result.code, 7, result.stderr);
    equal(result.stdout.trim(), "zombies 3"); // the control: nobody reaps
    match(
      result.stderr,
      /Orphaned processes will not be reaped reason="the wrapper was started without --allow-ffi"/,
    );
  },
});

Deno.test("every process the wrapper spawns is marked as its own, so the reaper never takes its status from Deno", async () => {
  let spawns = 0;
  let marked = 0;
  for await (const entry of Deno.readDir(`${ROOT}src`)) {
    const text = await Deno.readTextFile(`${ROOT}src/${entry.name}`);
    spawns += text.match(/new Deno\.Command\(/g)?.length ?? 0;
    marked += text.match(/\bownChild\([^)]*\.pid,/g)?.length ?? 0;
  }
  equal(spawns, 2);
  equal(marked, spawns);
});

Deno.test("with PATH unset the command is found as execvp finds it, and the job's environment has no PATH (Deno's own stand-in is dropped)", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...WRAPPER_ARGS, "env"],
    cwd: ROOT,
    env: { NO_COLOR: "1", HOME: Deno.env.get("HOME") ?? "/root" },
    clearEnv: true, // no PATH at all
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  equal(output.code, 0, new TextDecoder().decode(output.stderr));
  match(stdout, /^HOME=/m);
  equal(/^PATH=/m.test(stdout), false, stdout);
});

Deno.test("searchDefaultPath and jobEnv: the rules, without a process", () => {
  const files = new Set(["/usr/bin/env", "/bin/sh"]);
  const isFile = (file: string) => files.has(file);
  equal(searchDefaultPath("sh", undefined, isFile), "/bin/sh");
  equal(searchDefaultPath("env", undefined, isFile), "/usr/bin/env");
  equal(searchDefaultPath("nope", undefined, isFile), "nope");
  equal(searchDefaultPath("sh", "/opt/bin", isFile), "sh"); // PATH set: Deno's
  equal(searchDefaultPath("./sh", undefined, isFile), "./sh");
  equal(withoutDenosFolder("/root/.cache/deno/node_compat_bin"), undefined);
  equal(
    withoutDenosFolder("/r/.cache/deno/node_compat_bin:/usr/bin:/bin"),
    "/usr/bin:/bin",
  );
  const keptLast = "/usr/bin:/r/.cache/deno/node_compat_bin"; // not Deno's
  equal(withoutDenosFolder(keptLast), keptLast);
  const env = { PATH: "/home/u/.cache/deno/node_compat_bin", A: "1" };
  equal(JSON.stringify(jobEnv(env)), '{"A":"1"}');
  const prefixed = { PATH: "/h/.cache/deno/node_compat_bin:/bin", A: "1" };
  equal(JSON.stringify(jobEnv(prefixed)), '{"A":"1","PATH":"/bin"}');
  const kept = { PATH: "/usr/bin", A: "1" };
  equal(jobEnv(kept), kept);
});

Deno.test("with a PATH that has no node, the job does not get Deno's node shim first in it", async () => {
  // A PATH with sh and no node: Deno puts its own folder (node) first.
  const bin = await Deno.makeTempDir();
  await Deno.symlink("/bin/sh", `${bin}/sh`);
  try {
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        ...WRAPPER_ARGS,
        "sh",
        "-c",
        'echo "$PATH"; command -v node || echo none',
      ],
      cwd: ROOT,
      env: { NO_COLOR: "1", PATH: bin },
      clearEnv: true,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout).trim().split("\n");
    equal(output.code, 0, new TextDecoder().decode(output.stderr));
    equal(text[0], bin);
    equal(text[1], "none");
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
});

Deno.test("--help and --version into a reader that has gone still exit 0", async () => {
  for (const flag of ["--help", "--version"]) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [...WRAPPER_ARGS, flag],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    await child.stdout.cancel(); // the reader goes before the wrapper writes
    const { code } = await child.status;
    const stderr = await new Response(child.stderr).text();
    equal(code, 0, `${flag}: ${stderr}`);
  }
});

/** Signals forwarded beyond the usual stop signals, by number (dash traps numbers). */
const MORE_SIGNALS: ReadonlyArray<[Deno.Signal, number]> = [
  ["SIGABRT", 6],
  ["SIGSTKFLT", 16],
  ["SIGURG", 23],
  ["SIGVTALRM", 26],
  ["SIGPROF", 27],
  ["SIGIO", 29],
  ["SIGPWR", 30],
  ["SIGSYS", 31],
];

const TRAPPING_JOB = [...MORE_SIGNALS, ["SIGXCPU", 24], ["SIGXFSZ", 25]]
  .map(([, n]) => `trap "echo got ${n}" ${n}; `).join("") +
  'trap "echo got TERM; exit 0" TERM; echo ready; while :; do sleep 0.01; done';

/** The pid of `unshare`'s only child: the wrapper, PID 1 inside. */
async function childOf(pid: number): Promise<number> {
  const { stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/task/${pid}/children`],
  }).output();
  return Number(new TextDecoder().decode(stdout).trim().split(" ")[0]);
}

for (const init of [false, true]) {
  Deno.test({
    name:
      `every signal Deno can listen to but the fault, pipe, child, terminal and resource-limit ones reaches a trapping job; XCPU and XFSZ reach neither, ${
        init ? "as PID 1" : "not as PID 1"
      }; none ends the wrapper${init ? why : ""}`,
    ignore: init && !canUnshare,
    fn: async () => {
      await using run = new RunningWrapper(["sh", "-c", TRAPPING_JOB], {
        ...(init
          ? {
            prefix: [...AS_PID_1],
          }
          : {}),
      });
      await run.waitFor("ready");
      const pid = init ? await childOf(run.process.pid) : run.process.pid;
      for (const [name, number] of MORE_SIGNALS) {
        Deno.kill(pid, name);
        equal(await run.nextLine(), `got ${number}`, name);
      }
      // The wrapper's own limits' signals: caught, never passed on.
      Deno.kill(pid, "SIGXCPU");
      Deno.kill(pid, "SIGXFSZ");
      Deno.kill(pid, "SIGTERM");
      equal(await run.nextLine(), "got TERM");
      equal((await run.process.status).code, 0, await run.stderr);
    },
  });
}

Deno.test("a relative plugin path resolves in a working directory named with #, ? and %; one not valid UTF-8 is a usage error (2), not an internal one", async () => {
  const parent = await Deno.makeTempDir();
  const weird = `${parent}/a#b?c%20d`;
  await Deno.mkdir(weird);
  await Deno.copyFile(`${ROOT}plugins/echo.ts`, `${weird}/echo.ts`);
  // Deno takes paths as strings: a shell makes and enters the non-UTF-8 one.
  const wrapperLine = [Deno.execPath(), ...WRAPPER_ARGS]
    .map((arg) => arg === "main.ts" ? `${ROOT}main.ts` : arg)
    .map((arg) => `'${arg}'`).join(" ");
  const run = async (enter: string) => {
    const output = await new Deno.Command("sh", {
      args: [
        "-c",
        `${enter} && exec ${wrapperLine} -p ./echo.ts sh -c 'exit 3'`,
        "sh",
        weird,
      ],
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).output();
    return {
      code: output.code,
      stderr: new TextDecoder().decode(output.stderr),
    };
  };
  try {
    const fine = await run(`cd "$1"`);
    equal(fine.code, 3, fine.stderr);
    match(fine.stderr, /\[info echo\] Command ended code=3/);
    const bad = `"$(printf '${parent}/bad\\377')"`;
    const invalid = await run(`mkdir ${bad} && cd ${bad}`);
    equal(invalid.code, 2, invalid.stderr);
    match(
      invalid.stderr,
      /Invalid plugin spec "\.\/echo\.ts": a relative path, and the working directory cannot be read .*: use an absolute path/,
    );
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

/**
 * Signals Deno cannot listen to, by number: what each does to the wrapper.
 * Not 32 and 33, glibc's own: a process started by Deno (glibc's
 * `posix_spawn`) may start with them ignored.
 */
const UNCATCHABLE: ReadonlyArray<[number, "ends it" | "is survived"]> = [
  [4, "ends it"], // SIGILL: Deno refuses a listener
  [5, "ends it"], // SIGTRAP: not listened to (V8's fatal errors trap)
  [7, "is survived"], // SIGBUS: V8's handler takes the first one
  [8, "ends it"], // SIGFPE: Deno refuses a listener
  [11, "is survived"], // SIGSEGV: V8's handler takes the first one
  [34, "ends it"], // real-time: no name in Deno
  [64, "ends it"],
];

/** The status of a process killed by a real-time signal, which Deno cannot name. */
async function codeOf(process: Deno.ChildProcess): Promise<number> {
  try {
    return (await process.status).code;
  } catch (error) {
    return 128 + Number(/Invalid signal: (\d+)/.exec(String(error))![1]);
  }
}

for (const [n, outcome] of UNCATCHABLE) {
  Deno.test(`not PID 1, signal ${n}, which the wrapper cannot forward, ${outcome}, as the README's table says`, async () => {
    await using run = new RunningWrapper([
      "sh",
      "-c",
      'trap "echo got TERM; exit 3" TERM; echo $$; while :; do sleep 0.01; done',
    ]);
    const job = Number(await run.nextLine());
    const code = codeOf(run.process); // handled before it can reject
    await new Deno.Command("sh", {
      args: ["-c", `kill -${n} ${run.process.pid}`],
    }).output();
    if (outcome === "ends it") {
      equal(await within(code, `signal ${n} ends it`), 128 + n);
      Deno.kill(job, "SIGKILL"); // orphaned: it ran on
      return;
    }
    run.process.kill("SIGTERM"); // still alive: it forwards
    equal(await run.nextLine(), "got TERM");
    equal(await code, 3);
  });
}

Deno.test({
  name:
    `as PID 1 the kernel drops every signal the wrapper does not listen to: the job's own kill -N 1 for each of them leaves it running${why}`,
  ignore: !canUnshare,
  fn: async () => {
    // Not BUS and SEGV: V8's handler takes the first and then gives them
    // their default back; as PID 1 a crash (139) was seen in 2 runs of 6.
    const numbers = [
      ...UNCATCHABLE.filter(([, outcome]) => outcome === "ends it").map(([n]) =>
        n
      ),
      21,
      22,
    ];
    const result = await asInit([
      "sh",
      "-c",
      `for n in ${
        numbers.join(" ")
      }; do kill -$n 1; done; echo survived; exit 7`,
    ]);
    equal(result.stdout, "survived\n", result.stderr);
    equal(result.code, 7, result.stderr);
  },
});
